"""Providers behind one interface (``base.Provider``): SCRIPTED, RULES, LOCAL, OPENAI,
ANTHROPIC, OLLAMA."""

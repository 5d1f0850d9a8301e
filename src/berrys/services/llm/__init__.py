"""Model Orchestration: registry, providers, routing with fallback, budgets, usage."""

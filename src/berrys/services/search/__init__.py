"""Search: what a user may see (projects, tasks, agent templates, tools) ranked by meaning and
words."""

"""The catalogue: kinds of projects and deliverables (YAML), and understanding a description by
them."""

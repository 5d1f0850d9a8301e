"""The services: one package each (contracts, tables, service, api), layered as
docs/architecture.md draws."""

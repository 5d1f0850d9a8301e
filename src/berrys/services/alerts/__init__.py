"""Alerts: rules kept in the database, evaluated continuously, that open one episode while
their condition holds, resolve it when it clears, and notify (in-app, webhook, email)."""

"""Accounts: users, login, bearer tokens, and the dependencies that name the caller."""

"""What every service shares and that knows no service: database, errors, enums, contracts, HTTP
plumbing."""

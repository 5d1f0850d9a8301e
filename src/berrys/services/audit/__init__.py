"""The audit log: a hash chain of every state change, written in the change's transaction."""

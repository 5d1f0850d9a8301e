"""The run engine: claims task runs under leases and executes them through a recorded journal."""

"""The durable run engine: claims, executes and commits task runs; knows runs and nothing else."""

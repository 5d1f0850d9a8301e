"""The durable run engine: claims, executes and commits task runs; knows runs and nothing else."""

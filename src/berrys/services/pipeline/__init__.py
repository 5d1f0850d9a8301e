"""The project pipeline: a description to a started run, the agent executor and the wiring."""

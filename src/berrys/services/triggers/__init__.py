"""Triggers: scheduled runs of a project's plan and webhooks told of its runs."""

"""Publishing: a reviewed run's deliverables sent out, once a person approves, as a bundle,
a git commit or a signed webhook."""

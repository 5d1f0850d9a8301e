"""The A2A edge: Berrys as an A2A agent (its card, JSON-RPC at ``/a2a``), each task a run."""

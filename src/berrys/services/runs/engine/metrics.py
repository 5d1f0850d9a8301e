"""Run engine metrics, counted where the outbox is written (one count per event row).

Counted as the events are written (a transaction that then rolls back is still counted:
rare, and only when a worker loses its lease or the database fails).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

EVENTS = Counter(
    "berrys_run_events_total",
    "Run outbox events by type (task started/completed/failed, run status, approvals...).",
    ["type"],
    registry=None,
)


def register(registry: CollectorRegistry) -> None:
    """Expose the engine's metrics in an app's registry (GET /metrics)."""
    registry.register(EVENTS)

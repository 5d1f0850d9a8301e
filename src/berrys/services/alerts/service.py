"""The alerts service's façade: rules (CRUD with access and audit), episodes and their
notifications, the evaluation and delivery passes, and the loop and gauge a process owns."""

from __future__ import annotations

from berrys.services.alerts._delivery import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryQueue,
    deliver_due,
    sign,
    webhook_channel,
)
from berrys.services.alerts._episodes import acknowledge, deliveries, firing_count
from berrys.services.alerts._episodes import get as get_episode
from berrys.services.alerts._episodes import get_all as get_episodes
from berrys.services.alerts._evaluation import evaluate_due
from berrys.services.alerts._loop import AlertLoop
from berrys.services.alerts._metrics import FiringGauge
from berrys.services.alerts._rules import create, delete, get, get_all, rotate_secrets, update
from berrys.services.alerts.tables import DeliveryAttemptColumns, DeliveryColumns

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AlertLoop",
    "DeliveryAttemptColumns",
    "DeliveryColumns",
    "DeliveryQueue",
    "FiringGauge",
    "acknowledge",
    "create",
    "delete",
    "deliver_due",
    "deliveries",
    "evaluate_due",
    "firing_count",
    "get",
    "get_all",
    "get_episode",
    "get_episodes",
    "rotate_secrets",
    "sign",
    "update",
    "webhook_channel",
]

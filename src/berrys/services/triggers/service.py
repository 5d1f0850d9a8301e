"""The triggers service's façade: schedules and webhooks of a project (CRUD with access and
audit), the passes that fire schedules and deliver run events, and the loop a process owns."""

from __future__ import annotations

from berrys.services.triggers import _schedules as schedules
from berrys.services.triggers import _webhooks as webhooks
from berrys.services.triggers._fanout import fan_out
from berrys.services.triggers._firing import fire_due
from berrys.services.triggers._loop import WEBHOOK_DELIVERIES, TriggerLoop

__all__ = [
    "WEBHOOK_DELIVERIES",
    "TriggerLoop",
    "fan_out",
    "fire_due",
    "schedules",
    "webhooks",
]

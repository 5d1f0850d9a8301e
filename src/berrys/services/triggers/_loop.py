"""The triggers loop a server or worker process runs (``core.periodic``): fire the due
schedules, queue the webhooks' new run events, send the due deliveries (alerts' delivery,
with the triggers' tables)."""

from __future__ import annotations

from berrys.config import Settings
from berrys.core.db import Database
from berrys.core.encryption import SecretBox
from berrys.core.periodic import PeriodicLoop
from berrys.services.alerts import service as alerts
from berrys.services.llm import service as llm
from berrys.services.triggers._fanout import fan_out
from berrys.services.triggers._firing import fire_due
from berrys.services.triggers.tables import Webhook, WebhookDelivery, WebhookDeliveryAttempt

TICK_SECONDS = 5.0

WEBHOOK_DELIVERIES = alerts.DeliveryQueue(
    deliveries=WebhookDelivery.__table__,
    attempts=WebhookDeliveryAttempt.__table__,
    source=WebhookDelivery.__table__.join(Webhook, Webhook.id == WebhookDelivery.webhook_id),
    secret=Webhook.__table__.c.secret_encrypted,
    channel=alerts.webhook_channel(),
    user_agent="berrys-webhooks",
    signature_required=False,
)


class TriggerLoop(PeriodicLoop):
    """Schedules and run webhooks in the background of one process."""

    name = "berrys-triggers"

    def __init__(
        self, database: Database, models: llm.Runtime, box: SecretBox, settings: Settings
    ) -> None:
        super().__init__(TICK_SECONDS)
        self.database = database
        self.models = models
        self.box = box
        self.settings = settings

    async def tick(self) -> None:
        await fire_due(self.database, self.models)
        await fan_out(self.database)
        await alerts.deliver_due(self.database, self.box, self.settings, queue=WEBHOOK_DELIVERIES)

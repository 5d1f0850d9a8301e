"""The publishing loop a server or worker process runs (``core.periodic``): answered
approvals applied, approved publications carried out, their webhook manifests sent (alerts'
delivery with the publishing tables) and the publications whose delivery ended settled."""

from __future__ import annotations

from datetime import datetime

from berrys.config import Settings
from berrys.core.db import Database, utcnow
from berrys.core.encryption import SecretBox
from berrys.core.periodic import PeriodicLoop
from berrys.services.alerts import service as alerts
from berrys.services.publishing._carrying import apply_answers, carry_out, claim, settle
from berrys.services.publishing.tables import (
    Publication,
    PublicationDelivery,
    PublicationDeliveryAttempt,
)

TICK_SECONDS = 2.0

PUBLICATION_DELIVERIES = alerts.DeliveryQueue(
    deliveries=PublicationDelivery.__table__,
    attempts=PublicationDeliveryAttempt.__table__,
    source=PublicationDelivery.__table__.join(
        Publication, Publication.id == PublicationDelivery.publication_id
    ),
    secret=Publication.__table__.c.secret_encrypted,
    channel=alerts.webhook_channel(),
    user_agent="berrys-publishing",
)


async def publish_due(
    database: Database, box: SecretBox, settings: Settings, *, now: datetime | None = None
) -> int:
    """One pass; how many publications were carried out."""
    at = now or utcnow()
    await apply_answers(database)
    claimed = await claim(database, at)
    for publication_id in claimed:
        await carry_out(database, settings, publication_id)
    # Its own time: the manifests just queued are due at once.
    await alerts.deliver_due(database, box, settings, queue=PUBLICATION_DELIVERIES)
    await settle(database)
    return len(claimed)


class PublishLoop(PeriodicLoop):
    """Publications carried out in the background of one process."""

    name = "berrys-publishing"

    def __init__(self, database: Database, box: SecretBox, settings: Settings) -> None:
        super().__init__(TICK_SECONDS)
        self.database = database
        self.box = box
        self.settings = settings

    async def tick(self) -> None:
        await publish_due(self.database, self.box, self.settings)

"""Transactional outbox: a state change and its events commit in one database transaction; a relay publishes
them to Kafka afterwards. A broker outage delays events but never loses them.

    async with transaction(client) as session:
        await questions.insert_one(doc, session=session)
        await append(db, session, topic, [envelope])
    relay.notify()          # wake the relay now instead of at the next poll

The relay publishes pending entries in id order (UUIDv7, so commit order per aggregate) and then marks them
published. A crash between the two republishes a few events: consumers deduplicate by event id.
Published entries are kept: they are the service's durable event log (replays, reindexing, audits).
"""

import asyncio
import logging
from datetime import UTC, datetime

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from agora_common import metrics
from agora_common.events import Envelope
from agora_common.kafka import EventPublisher

log = logging.getLogger(__name__)

COLLECTION = "outbox"


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db[COLLECTION].create_index([("published", ASCENDING), ("_id", ASCENDING)])


async def append(db: AsyncDatabase, session: AsyncClientSession, topic: str, envelopes: list[Envelope]) -> None:
    if not envelopes:
        return
    await db[COLLECTION].insert_many(
        [
            {
                "_id": e.id,
                "topic": topic,
                "subject": e.subject,
                "type": e.type,
                "value": e.to_bytes().decode(),
                "published": False,
                "created_at": datetime.now(UTC),
            }
            for e in envelopes
        ],
        session=session,
    )


class OutboxRelay:
    def __init__(
        self,
        db: AsyncDatabase,
        publisher: EventPublisher,
        *,
        poll_interval: float = 0.5,
        batch_size: int = 500,
        retry_delay: float = 1.0,
    ) -> None:
        self._db = db
        self._publisher = publisher
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._retry_delay = retry_delay
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def notify(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def relay_once(self) -> int:
        """Publish one batch of pending entries; returns how many were published."""
        pending = await (
            self._db[COLLECTION].find({"published": False}).sort("_id", ASCENDING).limit(self._batch_size).to_list()
        )
        metrics.OUTBOX_PENDING.set(len(pending))
        if not pending:
            return 0
        by_topic: dict[str, list[Envelope]] = {}
        for entry in pending:
            by_topic.setdefault(entry["topic"], []).append(Envelope.model_validate_json(entry["value"]))
        for topic, envelopes in by_topic.items():
            await self._publisher.publish_many(topic, envelopes)
        await self._db[COLLECTION].update_many(
            {"_id": {"$in": [e["_id"] for e in pending]}},
            {"$set": {"published": True, "published_at": datetime.now(UTC)}},
        )
        return len(pending)

    async def _run(self) -> None:
        while True:
            try:
                published = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker or database down: keep the entries, retry later
                log.warning("outbox relay failed; will retry", extra={"error": str(exc)[:300]})
                await asyncio.sleep(self._retry_delay)
                continue
            if published >= self._batch_size:
                continue  # more waiting
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
            except TimeoutError:
                pass

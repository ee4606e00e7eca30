"""Transactional outbox: a state change and its events commit in one database transaction; a relay publishes
them to Kafka afterwards. A broker outage delays events but never loses them.

    async with transaction(client) as session:
        await questions.insert_one(doc, session=session)
        await append(db, session, topic, [envelope])
    relay.notify()          # wake the relay now instead of at the next poll

The relay publishes pending entries in id order (UUIDv7, so commit order per aggregate) and then marks as
published exactly those the broker acknowledged. A crash between the two republishes a few events: consumers
deduplicate by event id. Published entries are kept: they are the service's durable event log (replays,
reindexing, audits).

One relay at a time publishes per database, however many replicas run (a lease document): two would publish the
same entries and could interleave one aggregate's events out of order. A lease that is not renewed (its holder
died) expires and another replica takes over. After a failure the relay recreates the topics, so a broker that
restarted empty is usable at the next retry.
"""

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from agora_common import metrics
from agora_common.events import Envelope
from agora_common.ids import new_id
from agora_common.kafka import EventPublisher, ensure_topics
from agora_common.lifecycle import cancel_and_wait
from agora_common.retry import until_done

log = logging.getLogger(__name__)

COLLECTION = "outbox"
LEASES = "leases"
LEASE_ID = "outbox-relay"
RELEASED = datetime(2000, 1, 1, tzinfo=UTC)  # the expiry of a lease handed over


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
        topics: list[str] | None = None,
        partitions: int = 3,
        poll_interval: float = 0.5,
        batch_size: int = 500,
        retry_delay: float = 1.0,
        lease_seconds: float = 10.0,
        create_topics: bool = True,
    ) -> None:
        self._db = db
        self._publisher = publisher
        self._topics = topics or []  # created when missing (first batch, or a broker that came back empty)
        self._partitions = partitions
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._retry_delay = retry_delay
        self._lease_seconds = lease_seconds
        self._create_topics = create_topics  # else: wait for the setup job's topics (raise, retry)
        self.owner = new_id()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def notify(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        with contextlib.suppress(Exception):  # hand over at once instead of after the lease expires
            # expired long ago, not "now": a successor asking within the same millisecond must see it expired
            await self._db[LEASES].update_one({"_id": LEASE_ID, "owner": self.owner},
                                              {"$set": {"expires_at": RELEASED}})

    async def holds_lease(self) -> bool:
        """Take or renew the relay lease; False while another replica holds an unexpired one."""
        now = datetime.now(UTC)
        claim = {"_id": LEASE_ID, "$or": [{"owner": self.owner}, {"expires_at": {"$lt": now}}]}
        update = {"$set": {"owner": self.owner, "expires_at": now + timedelta(seconds=self._lease_seconds)}}
        try:
            lease = await self._db[LEASES].find_one_and_update(claim, update, upsert=True,
                                                               return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            lease = None
        if lease is None:
            # Upserts racing to create the lease (another replica's, or this replica's relay task and a caller of
            # this method): the loser gets a duplicate-key error, or from the server no document at all. The
            # lease exists now, so ask again without creating it.
            lease = await self._db[LEASES].find_one_and_update(claim, update, return_document=ReturnDocument.AFTER)
        return lease is not None and lease["owner"] == self.owner

    async def relay_once(self) -> int:
        """Publish one batch of pending entries (if this replica holds the lease); returns how many."""
        if not await self.holds_lease():
            return 0
        try:
            return await self._relay_batch()
        except Exception:
            await self._publisher.reset()  # a fresh producer: fresh metadata and connections for the retry
            raise

    async def _relay_batch(self) -> int:
        pending = await (
            self._db[COLLECTION].find({"published": False}).sort("_id", ASCENDING).limit(self._batch_size).to_list()
        )
        await self._measure_backlog(pending)
        if not pending:
            return 0
        by_topic: dict[str, list[dict]] = {}
        for entry in pending:
            by_topic.setdefault(entry["topic"], []).append(entry)
        # Checked before every batch, not only after errors: a broker that restarted empty can accept writes to
        # topics it no longer has without an error (the embedded one does, and drops them).
        if missing := await self._publisher.missing_topics([*by_topic, *self._topics]):
            log.warning("creating missing topics", extra={"topics": missing})
            await asyncio.wait_for(
                ensure_topics(self._publisher.kafka, missing, partitions=self._partitions,
                              create=self._create_topics), timeout=10
            )
        acked: list[str] = []
        for topic, entries in by_topic.items():
            envelopes = [Envelope.model_validate_json(entry["value"]) for entry in entries]
            results = await self._publisher.publish_many(topic, envelopes)
            acked += [entry["_id"] for entry, ok in zip(entries, results, strict=True) if ok]
        if acked:
            await self._db[COLLECTION].update_many(
                {"_id": {"$in": acked}}, {"$set": {"published": True, "published_at": datetime.now(UTC)}}
            )
        if len(acked) < len(pending):
            raise RuntimeError(f"{len(pending) - len(acked)} outbox entries not acknowledged by the broker")
        return len(pending)

    async def _measure_backlog(self, batch: list[dict]) -> None:
        """The whole backlog (a full batch means there may be more: count them) and its oldest entry's age
        (entries are in id order, UUIDv7, so the batch's first is the oldest)."""
        total = len(batch)
        if total >= self._batch_size:
            total = await self._db[COLLECTION].count_documents({"published": False})
        metrics.OUTBOX_PENDING.set(total)
        oldest = batch[0]["created_at"] if batch else None
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        metrics.OUTBOX_OLDEST_AGE.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0)

    async def _run(self) -> None:
        while True:
            # broker or database down: the entries stay in the outbox until a retry gets them out
            published = await until_done(self.relay_once, what="outbox relay", first=self._retry_delay)
            if published >= self._batch_size:
                continue  # more waiting
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)

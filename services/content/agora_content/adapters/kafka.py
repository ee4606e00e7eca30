"""Kafka side of the service: the outbox relay (publishing) and the users-topic consumer (suspensions)."""

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from agora_common import metrics
from agora_common.events import Envelope
from agora_common.ids import new_id
from agora_common.kafka import EventConsumer, EventPublisher, ensure_topics
from agora_common.outbox import COLLECTION, OutboxRelay
from agora_common.topics import Topics
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

log = logging.getLogger(__name__)


class SettlingPublisher(EventPublisher):
    """Publishes a batch and waits until EVERY message has succeeded or failed before reporting.

    The shared `publish_many` stops at the first failure, leaving the rest of the batch queued in the producer;
    those could still be delivered later, after the relay has already retried them: duplicates. Waiting for
    all of them to settle, and telling which ones made it, keeps a broker outage from duplicating events.
    """

    async def publish_settled(self, topic: str, envelopes: list[Envelope]) -> list[bool]:
        await self.ensure_started()
        futures: list[asyncio.Future] = []
        error: Exception | None = None
        for e in envelopes:  # enqueued one after the other: per-key order is kept
            try:
                futures.append(await self._producer.send(topic, e.to_bytes(), key=e.subject.encode()))
            except Exception as exc:  # noqa: BLE001 - e.g. no metadata: the rest waits for the next try
                error = exc
                break
        results = await asyncio.gather(*futures, return_exceptions=True)
        ok = [not isinstance(r, BaseException) for r in results]
        for e, sent in zip(envelopes, ok):
            if sent:
                metrics.EVENTS_PUBLISHED.labels(topic, e.type).inc()
        if error is not None:
            log.warning("publish interrupted", extra={"error": str(error)[:200]})
        return ok + [False] * (len(envelopes) - len(ok))


class ContentRelay(OutboxRelay):
    """The shared outbox relay, made safe across broker outages:

    - marks as published exactly the entries the broker acknowledged (see SettlingPublisher);
    - after a failure, (re)creates the topics: a broker that restarted empty (the embedded one keeps topics in
      memory only) is usable again on the next retry.
    """

    LEASE_ID = "outbox-relay"

    def __init__(self, db, publisher: SettlingPublisher, *, bootstrap: str, topics: Topics,
                 lease_seconds: float = 10.0, **kwargs) -> None:
        super().__init__(db, publisher, **kwargs)
        self._settling = publisher
        self._bootstrap = bootstrap
        self._topics = topics
        self._lease_seconds = lease_seconds
        self.owner = new_id()

    async def holds_lease(self) -> bool:
        """One relay at a time per database, however many replicas run: a second one would publish the same
        entries again and could interleave one post's events out of order. A lease that is not renewed (its
        holder died) expires and another replica takes over."""
        now = datetime.now(UTC)
        try:
            await self._db["leases"].find_one_and_update(
                {"_id": self.LEASE_ID, "$or": [{"owner": self.owner}, {"until": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "until": now + timedelta(seconds=self._lease_seconds)}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # another replica holds it
        return True

    async def stop(self) -> None:
        await super().stop()
        with contextlib.suppress(Exception):  # hand over at once instead of after the lease expires
            await self._db["leases"].delete_one({"_id": self.LEASE_ID, "owner": self.owner})

    async def relay_once(self) -> int:
        if not await self.holds_lease():
            return 0
        try:
            return await self._relay_batch()
        except Exception:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ensure_topics(self._bootstrap, self._topics.all()), timeout=5)
            raise

    async def _relay_batch(self) -> int:
        pending = await (
            self._db[COLLECTION].find({"published": False}).sort("_id", ASCENDING).limit(self._batch_size).to_list()
        )
        metrics.OUTBOX_PENDING.set(len(pending))
        if not pending:
            return 0
        by_topic: dict[str, list[dict]] = {}
        for entry in pending:
            by_topic.setdefault(entry["topic"], []).append(entry)
        sent: list[str] = []
        failed = False
        for topic, entries in by_topic.items():
            envelopes = [Envelope.model_validate_json(entry["value"]) for entry in entries]
            results = await self._settling.publish_settled(topic, envelopes)
            sent += [entry["_id"] for entry, ok in zip(entries, results) if ok]
            failed = failed or not all(results)
        if sent:
            await self._db[COLLECTION].update_many(
                {"_id": {"$in": sent}}, {"$set": {"published": True, "published_at": datetime.now(UTC)}}
            )
        if failed:
            raise RuntimeError(f"{len(pending) - len(sent)} outbox entries not acknowledged by the broker")
        return len(pending)


class BackgroundConsumer:
    """Keeps an EventConsumer running in the background: starts it once the broker answers (the service boots
    anyway) and starts a fresh one if it stops (its handler failed; the uncommitted batch is then redelivered)."""

    def __init__(self, make_consumer, *, retry_delay: float = 2.0, check_interval: float = 5.0) -> None:
        self._make = make_consumer
        self._retry_delay = retry_delay
        self._check_interval = check_interval
        self._task: asyncio.Task | None = None
        self.consumer: EventConsumer | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="users-consumer-supervisor")

    async def _run(self) -> None:
        while True:
            self.consumer = consumer = self._make()
            try:
                await consumer.start()
            except Exception as exc:  # noqa: BLE001 - broker down: try again later
                log.warning("users consumer could not start; retrying", extra={"error": str(exc)[:200]})
                await self._discard(consumer)
                await asyncio.sleep(self._retry_delay)
                continue
            while consumer.running:
                await asyncio.sleep(self._check_interval)
            log.warning("users consumer stopped; starting a new one")
            await self._discard(consumer)

    async def _discard(self, consumer: EventConsumer) -> None:
        with contextlib.suppress(Exception):
            await consumer.stop()
        self.consumer = None

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.consumer:
            await self._discard(self.consumer)

"""The points processor: turns batches of raw broker messages into engine updates, dead-letters what it
cannot read, publishes honor-title changes, and records metrics.

State lives in memory (the `Engine`); it is a pure function of the event log, so start-up rebuilds it by
reading the log (`catch_up`) before the live tail takes over. The API reads the same engine object
in the same process and event loop: what an applied batch changed is visible to the next request.
"""

import asyncio
import gc
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agora_common import metrics as common_metrics
from agora_common.events import BadEvent, Envelope
from agora_common.events.points import HonorTitleEarned, HonorTitleLost
from agora_common.kafka import DeadLetters, EventPublisher, Kafka, kafka_connection
from agora_common.retry import until_done
from agora_common.topics import Topics
from aiokafka import TopicPartition

from agora_points import metrics
from agora_points.adapters.log_reader import read_log
from agora_points.domain.engine import Engine
from agora_points.domain.model import Fact
from agora_points.domain.rules import RuleSet
from agora_points.service.board_sync import BoardSync
from agora_points.service.decode import Decoder, relevant_types
from agora_points.service.snapshots import Snapshots

log = logging.getLogger(__name__)

_TITLE_NS = uuid.UUID("7d0c3f52-8c1e-4b8e-9c52-5a1f0e6b7a10")


@dataclass(slots=True)
class Raw:
    """One message from the broker: value, and where it came from (dead-letter headers, snapshot offsets)."""

    value: bytes | None
    key: bytes | None
    topic: str
    partition: int
    offset: int

    @property
    def origin(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass
class TitleBook:
    """What this service has already said about titles (rebuilt from the points topic at start-up)."""

    held: dict[str, set[str]] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)  # (user, title, type) -> events published
    versions: Counter = field(default_factory=Counter)  # user -> last points-event version

    def record(self, envelope: Envelope) -> None:
        data = envelope.data
        user, title = data.get("user_id"), data.get("title")
        if not user or not title:
            return
        self.counts[(user, title, envelope.type)] += 1
        self.versions[user] = max(self.versions[user], envelope.version)
        if envelope.type == HonorTitleEarned.event_type:
            self.held.setdefault(user, set()).add(title)
        elif envelope.type == HonorTitleLost.event_type:
            self.held.setdefault(user, set()).discard(title)


class PointsProcessor:
    def __init__(self, *, rules: RuleSet, kafka: Kafka, topics: Topics, group_id: str,
                 publish_titles: bool = True, replay_batch: int = 20_000) -> None:
        self.rules = rules
        self.engine = Engine(rules)
        self.decode = Decoder(relevant_types(rules))
        self.kafka = kafka_connection(kafka)
        self.topics = topics
        self.group_id = group_id
        self.publish_titles = publish_titles
        self.replay_batch = replay_batch
        self.titles = TitleBook()
        self.publisher = EventPublisher(self.kafka, client_id=f"{group_id}-titles")
        self.dead_letters = DeadLetters(self.kafka, topic=topics.dead_letter, group_id=group_id, client_id=group_id)
        self._title_queue: list[Envelope] = []
        self._title_pump: asyncio.Task | None = None
        self.ready = False
        metrics.READY.set(0)
        self.failure: str | None = None
        # next offset per (topic, partition) such that every message before it has been applied
        self.reached: dict[tuple[str, int], int] = {}
        self.snapshots: Snapshots | None = None
        self.board_sync: BoardSync | None = None  # the Redis leaderboards (main.py wires them)
        self.events_from_snapshot = 0
        self.caught_up_events = 0
        self.catch_up_seconds: float | None = None
        self.last_applied_at: datetime | None = None
        self._lock = asyncio.Lock()

    @property
    def input_topics(self) -> list[str]:
        return [self.topics.content, self.topics.users, self.topics.events]

    def reset(self) -> None:
        """Forget everything (a failed start-up is retried from scratch: the log is the truth)."""
        self.engine = Engine(self.rules)
        self.titles = TitleBook()
        self.caught_up_events = 0
        self.reached = {}

    async def stop(self) -> None:
        if self.board_sync is not None:
            await self.board_sync.stop()
        await self.flush_titles()
        if self._title_pump is not None:
            self._title_pump.cancel()
        await self.publisher.stop()
        await self.dead_letters.stop()

    # ---- start-up ----------------------------------------------------------------------------------
    async def catch_up(self) -> None:
        """Rebuild from the log: titles already published, then every domain event up to the log's end."""
        async for records, _ in read_log(self.kafka, [self.topics.points], batch=self.replay_batch):
            for r in records:
                try:
                    self.titles.record(Envelope.from_bytes(r.value))
                except BadEvent:
                    continue
        started = time.perf_counter()
        start_at = None
        if self.snapshots is not None:
            restored = self.snapshots.load()
            if restored is not None:
                self.engine, self.reached = restored
                self.engine.tracking = False  # the boards are rewritten whole after the replay
                self.events_from_snapshot = len(self.engine.seen)
                start_at = dict(self.reached)
        async for records, committed in read_log(
            self.kafka, self.input_topics, batch=self.replay_batch, group_id=self.group_id, commit_end=True,
            start_at=start_at,
        ):
            # Messages this instance's group never handled (at or past its committed offset) are
            # dead-lettered if bad; older ones were dead-lettered when first consumed. A brand-new group (a new
            # instance name) dead-letters nothing here: it would report the whole log's bad events again.
            raws = [Raw(r.value, r.key, r.topic, r.partition, r.offset) for r in records]
            known_group = any(committed.values())
            fresh = {id(raw) for raw, r in zip(raws, records, strict=True)
                     if known_group and r.offset >= committed.get(TopicPartition(r.topic, r.partition), 0)}
            await self.handle(raws, live=False, dead_letter=lambda raw, fresh=fresh: id(raw) in fresh)
            self.caught_up_events += len(records)
        self.catch_up_seconds = round(time.perf_counter() - started, 3)
        log.info("points caught up with the log", extra={
            "events": self.caught_up_events, "seconds": self.catch_up_seconds,
            "users": len(self.engine.ledgers)})
        await self.sync_titles(set(self.engine.ledgers) | set(self.titles.held))
        if self.snapshots is not None:
            self.snapshots.maybe_save(self.engine, self.reached)  # a long replay is not repeated after a crash
        if self.board_sync is not None:
            self.board_sync.rebuild(self.engine)
        # The state is millions of long-lived objects: move them out of the cyclic collector's way, or every
        # full collection walks them all and stalls scoring and the API for hundreds of milliseconds.
        gc.collect()
        gc.freeze()
        self.ready = True
        metrics.READY.set(1)

    # ---- batches -----------------------------------------------------------------------------------
    async def handle(self, raws: list[Raw], *, live: bool = True, dead_letter=None) -> None:
        facts: list[Fact] = []
        decode = self.decode
        reached = self.reached
        for raw in raws:
            where = (raw.topic, raw.partition)
            if raw.offset >= reached.get(where, 0):
                reached[where] = raw.offset + 1
            try:
                fact = decode(raw.value)
            except BadEvent as exc:
                if dead_letter is None or dead_letter(raw):
                    await self._dead_letter(raw, exc)
                continue
            if fact is not None:
                facts.append(fact)
        async with self._lock:  # catch-up and what-if never interleave with a live batch mid-way
            result = self.engine.apply(facts)
        now = datetime.now(UTC)
        self.last_applied_at = now
        for event_type, n in result.by_type.items():
            metrics.EVENTS.labels(event_type).inc(n)
            if live:
                topic = self.topics.for_source(_source_of(event_type))
                common_metrics.EVENTS_CONSUMED.labels(self.group_id, topic, event_type).inc(n)
        metrics.ENTRIES.inc(result.new_entries)
        metrics.CAP_HITS.inc(result.cap_hits)
        metrics.DUPLICATES.inc(result.duplicates)
        if live and result.applied_times_us:
            now_us = now.timestamp() * 1e6
            observe, age = metrics.LAG.observe, common_metrics.EVENT_AGE.labels(self.group_id).observe
            for t in result.applied_times_us:
                lag = max((now_us - t) / 1e6, 0.0)
                observe(lag)
                age(lag)
        if live:
            if self.board_sync is not None:
                self.board_sync.changed()
            await self.sync_titles(result.changed_users)
            if self.snapshots is not None:
                self.snapshots.maybe_save(self.engine, self.reached)

    async def _dead_letter(self, raw: Raw, exc: BadEvent) -> None:
        await self.dead_letters.send(raw.value, key=raw.key, reason=exc.reason, message=str(exc), origin=raw.origin)

    # ---- honor titles ------------------------------------------------------------------------------
    def title_changes(self, users: set[str]) -> list[Envelope]:
        titles = self.rules.titles
        if not titles:
            return []
        lowest = min(t.threshold for t in titles)
        by_name = {t.title: t for t in titles}
        held_by_user, total_of = self.titles.held, self.engine.total
        out = []
        for user in sorted(users):
            total = total_of(user)
            held = held_by_user.get(user)
            if total < lowest and not held:
                continue  # the common case: nothing earned, nothing to lose
            held = held or set()
            earned = {t.title for t in titles if total >= t.threshold}
            changes = [(HonorTitleEarned, by_name[name]) for name in sorted(earned - held)]
            # a title dropped from the rules is left alone (operators decide)
            changes += [(HonorTitleLost, by_name[name]) for name in sorted(held - earned) if name in by_name]
            for i, (cls, title) in enumerate(changes):
                out.append(self._title_event(cls, user, title, total, self.titles.versions[user] + 1 + i))
        return out

    def _title_event(self, cls, user: str, title, total: int, version: int) -> Envelope:
        n = self.titles.counts[(user, title.title, cls.event_type)]
        # Deterministic id: a restarted or second instance announcing the same change uses the same id,
        # and consumers deduplicate on it.
        event_id = str(uuid.uuid5(_TITLE_NS, f"{self.topics.prefix}|{user}|{title.title}|{cls.event_type}|{n}"))
        payload = cls(user_id=user, title=title.title, threshold=title.threshold, total_points=total,
                      rules_version=self.rules.version)
        return Envelope.wrap(payload, subject=user, version=version, id=event_id)

    async def sync_titles(self, users: set[str]) -> None:
        """Decide title changes now; publish them in the background (in order), so a slow broker round trip
        never holds up scoring. Unsent ones after a crash are decided again at the next start-up (the book
        is rebuilt from what the points topic actually holds) and carry the same ids."""
        if not self.publish_titles or not self.rules.titles or not users:
            return
        changes = self.title_changes(users)
        if not changes:
            return
        for envelope in changes:
            self.titles.record(envelope)
        self._title_queue.extend(changes)
        if self._title_pump is None or self._title_pump.done():
            self._title_pump = asyncio.create_task(self._pump_titles(), name="points-titles")

    async def _pump_titles(self) -> None:
        while self._title_queue:
            batch = self._title_queue[:500]

            async def publish(batch: list[Envelope] = batch) -> None:
                acked = await self.publisher.publish_many(self.topics.points, batch)
                if not all(acked):  # broker down: keep the batch (its ids are fixed, so a resend dedupes)
                    raise RuntimeError(f"{acked.count(False)} of {len(batch)} honor-title events not acknowledged")

            await until_done(publish, what="publishing honor-title events", cap=10.0)
            del self._title_queue[:len(batch)]
            for envelope in batch:
                metrics.TITLES.labels(envelope.type).inc()

    async def flush_titles(self, timeout: float = 10.0) -> None:
        if self._title_pump is not None and not self._title_pump.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._title_pump), timeout)
            except TimeoutError:
                log.warning("honor-title events left unsent at shutdown; the next start-up sends them")


_SOURCE_BY_TYPE: dict[str, str] = {}


def _source_of(event_type: str) -> str:
    source = _SOURCE_BY_TYPE.get(event_type)
    if source is None:
        from agora_common.events import EVENT_TYPES

        source = _SOURCE_BY_TYPE[event_type] = EVENT_TYPES[event_type].source
    return source

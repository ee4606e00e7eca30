"""The three stages of the points pipeline, each run by every worker over the partitions its group gives it
(adapters/group_member.py):

    domain topics ──▶ Router ──facts, by root──▶ Deriver ──award states, by user──▶ Keeper ──▶ ledgers, boards,
    (by aggregate)    decode, dead-letter         stage 1: Derivation per partition  stage 2: Book per partition  titles

The Router is stateless. The Deriver and the Keeper keep one engine stage per partition; a partition given to
another worker is restored there from its newest state snapshot and its own topic from there (the facts topic
is stage 1's changelog, the award-state topic stage 2's), so no worker ever holds more than its partitions.
"""

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

import orjson
from agora_common import metrics as common_metrics
from agora_common.events import BadEvent, Envelope
from agora_common.events.points import HonorTitleEarned, HonorTitleLost
from agora_common.kafka import DeadLetters, EventPublisher
from agora_common.retry import until_done
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from agora_points import metrics
from agora_points.adapters.group_member import Batch
from agora_points.adapters.snapshots import Export, Loaded, SnapshotLog
from agora_points.adapters.state_codec import book_state, derivation_state
from agora_points.adapters.state_store import StateMap, StateStore
from agora_points.adapters.wire import decode_batch, decode_fact, decode_stage, encode_batch, encode_fact, encode_stage
from agora_points.domain.book import Book, BookState
from agora_points.domain.derivation import Derivation, DerivationState
from agora_points.domain.model import AwardState, BatchResult, NameFact, StatusFact, root_of
from agora_points.domain.rules import RuleSet
from agora_points.service.decode import Decoder

log = logging.getLogger(__name__)
T = TypeVar("T")

_TITLE_NS = uuid.UUID("7d0c3f52-8c1e-4b8e-9c52-5a1f0e6b7a10")
_EVENT_TIME = "x-agora-event-us"  # the oldest event time in the batch a state came from: processing lag


class Producer:
    """Sends a stage's outputs, one message per partition and up to `per_message` items (wire.py), and returns
    once the broker has acknowledged all of them (retrying while it is down; a resend after a partial failure is
    a duplicate the next stage ignores). A topic of the service's own that is gone (a broker that came back
    empty) is created again, and what was sent to it meanwhile is sent again (see `_lost`)."""

    def __init__(self, publisher: EventPublisher, *, create_topics: Callable[[], Awaitable[None]],
                 per_message: int = 200) -> None:
        self.publisher = publisher
        self.create_topics = create_topics
        self.per_message = per_message
        self._partitioner = DefaultPartitioner()

    async def send_all(self, topic: str, items: list[tuple[bytes, list]], headers: list | None = None) -> None:
        """items: (key, item); an item goes to the partition its key hashes to, like a keyed Kafka message."""
        if not items:
            return

        async def send() -> None:
            producer = await self.publisher.ensure_started()
            try:
                partitions = sorted(await producer.partitions_for(topic))
                by_partition: dict[int, list] = {}
                for key, item in items:
                    by_partition.setdefault(self._partitioner(key, partitions, partitions), []).append(item)
                futures = []
                for partition, batch in by_partition.items():
                    for i in range(0, len(batch), self.per_message):
                        futures.append(await producer.send(topic, encode_batch(batch[i:i + self.per_message]),
                                                           partition=partition, headers=headers))
                await asyncio.gather(*futures)
            except Exception:
                await self._make_if_missing(topic)
                raise
            if await self._lost(topic):
                raise RuntimeError(f"{topic} was gone when the broker acknowledged the send: sending again")

        await until_done(send, what=f"sending to {topic}", cap=5.0)

    async def publish_events(self, topic: str, envelopes: list[Envelope]) -> list[bool]:
        """Domain events (honor titles), keyed by subject: which ones the broker acknowledged (and kept)."""
        acked = await self.publisher.publish_many(topic, envelopes)
        if not all(acked):
            await self._make_if_missing(topic)
            return acked
        if await self._lost(topic):
            return [False] * len(envelopes)  # the caller sends them again (same ids: a repeat is deduplicated)
        return acked

    async def _make_if_missing(self, topic: str) -> None:
        """After a failed send: a topic that is gone (no metadata to send by) is made again."""
        if await self.publisher.missing_topics([topic]):
            await self.create_topics()

    async def _lost(self, topic: str) -> bool:
        """After the acknowledgements, if the producer has reconnected since it last looked (a broker that
        restarted, maybe empty): was the topic gone? The embedded broker acknowledges writes to a topic it no
        longer has, and drops them (Kafka refuses them). If it was, it is made again and the caller must send
        again (the next stage ignores what it already has)."""
        if await self.publisher.missing_since_reconnect([topic]):
            await self.create_topics()
            return True
        return False


class Router:
    """Stage 0: domain events (keyed by their aggregate: an answer by itself) -> facts keyed by the root stage 1
    needs them under (an answer's question thread). Unreadable events go to the dead-letter topic."""

    stateful = False

    def __init__(self, *, decode: Decoder, producer: Producer, facts_topic: str, dead_letters: DeadLetters,
                 group_id: str) -> None:
        self.decode = decode
        self.producer = producer
        self.facts_topic = facts_topic
        self.dead_letters = dead_letters
        self.group_id = group_id

    def assign(self, partitions: set[TopicPartition], partition_count: int,
               reached: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        return {}

    def keep_standbys(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        raise TypeError("the router keeps no state: no standby copies")

    def apply_standby(self, partition: TopicPartition, records: list[ConsumerRecord]) -> None:
        raise TypeError("the router keeps no state: no standby copies")

    def export(self, partition: TopicPartition, *, changes_only: bool) -> None:
        raise TypeError("the router keeps no state: no snapshots")

    async def load_snapshot(self, partition: TopicPartition, snapshots: SnapshotLog, *, standby: bool = False
                            ) -> None:
        raise TypeError("the router keeps no state: no snapshots")

    async def restored(self, partition: TopicPartition) -> None:
        return None

    async def handle(self, batches: dict[TopicPartition, Batch]) -> None:
        out: list[tuple[bytes, list]] = []
        consumed: Counter = Counter()
        for tp, batch in batches.items():
            for r in batch.records:
                try:
                    fact = self.decode(r.value)
                except BadEvent as exc:
                    await self.dead_letters.send(r.value, key=r.key, reason=exc.reason, message=str(exc),
                                                 origin=f"{r.topic}/{r.partition}/{r.offset}")
                    continue
                if fact is not None:
                    out.append((root_of(fact).encode(), encode_fact(fact)))
                    consumed[(tp.topic, fact.type)] += 1
        await self.producer.send_all(self.facts_topic, out)
        for (topic, event_type), n in consumed.items():
            common_metrics.EVENTS_CONSUMED.labels(self.group_id, topic, event_type).inc(n)


class Deriver:
    """Stage 1, per facts partition: chains, switches and once-per groups -> each changed award's state, to the
    partition of its user."""

    stateful = True

    def __init__(self, *, rules: RuleSet, producer: Producer, states_topic: str, store: StateStore) -> None:
        self.rules = rules
        self.producer = producer
        self.states_topic = states_topic
        self.store = store
        self.derivations: dict[int, Derivation] = {}
        self.standbys = Standbys[Derivation](make=lambda p: Derivation(self.rules, self._state(str(p))),
                                             demote=note_no_changes,
                                             drop=lambda d: d.clear())
        self.partition_count: int | None = None

    def _state(self, name: str) -> DerivationState:
        return derivation_state(self.store, f"derive:{name}", self.rules)

    def assign(self, partitions: set[TopicPartition], partition_count: int,
               reached: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        self.derivations, fresh, _ = _reassign(
            self.derivations, partitions, self.partition_count, partition_count, reached, self.standbys,
            merge=lambda held: Derivation.merged(held, self._state("merged")))
        self.partition_count = partition_count or self.partition_count
        return fresh

    def keep_standbys(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        return self.standbys.keep(partitions)

    def apply_standby(self, partition: TopicPartition, records: list[ConsumerRecord]) -> None:
        derivation = self.standbys.advance(partition, records)
        if derivation is not None:
            derivation.admit([decode_fact(item) for r in records for item in decode_batch(r.value)], BatchResult())

    def export(self, partition: TopicPartition, *, changes_only: bool) -> Export | None:
        return export_state(self.derivations, partition.partition, self.store, changes_only=changes_only)

    async def load_snapshot(self, partition: TopicPartition, snapshots: SnapshotLog, *, standby: bool = False
                            ) -> Loaded | None:
        return await load_state(self.derivations, self.standbys, partition.partition, self.store, snapshots,
                                standby=standby)

    async def restored(self, partition: TopicPartition) -> None:
        return None

    @property
    def events_applied(self) -> int:
        return sum(d.admitted for d in _distinct(self.derivations))

    async def handle(self, batches: dict[TopicPartition, Batch]) -> None:
        out: list[tuple[bytes, list]] = []
        oldest: int | None = None
        for tp, batch in batches.items():
            derivation = self.derivations[tp.partition]
            replay = [decode_fact(item) for r in batch.records if r.offset < batch.replay_below
                      for item in decode_batch(r.value)]
            if replay:  # a restore: the states these facts gave were sent by the previous owner
                derivation.admit(replay, BatchResult())
            facts = [decode_fact(item) for r in batch.records if r.offset >= batch.replay_below
                     for item in decode_batch(r.value)]
            if not facts:
                continue
            result = BatchResult()
            states, statuses, names = derivation.admit(facts, result)
            messages: list[AwardState | StatusFact | NameFact] = [*statuses, *names, *states]
            out += [(m.user.encode(), encode_stage(m)) for m in messages]
            for event_type, n in result.by_type.items():
                metrics.EVENTS.labels(event_type).inc(n)
            metrics.DUPLICATES.inc(result.duplicates)
            if result.applied_times_us:
                first = min(result.applied_times_us)
                oldest = first if oldest is None else min(oldest, first)
        headers = [(_EVENT_TIME, str(oldest).encode())] if oldest is not None else None
        await self.producer.send_all(self.states_topic, out, headers)


@dataclass
class TitleBook:
    """What has been said about titles (rebuilt from the points topic whenever this worker takes users over)."""

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


class Keeper:
    """Stage 2, per award-state partition: each user's ledger, cap, floor, totals, boards and titles. Owns the
    users of its partitions: per-user reads are answered by the worker whose Keeper holds the user."""

    stateful = True

    def __init__(self, *, rules: RuleSet, producer: Producer, points_topic: str, topic_prefix: str,
                 publish_titles: bool, read_titles: Callable[[], Awaitable[TitleBook]], group_id: str,
                 store: StateStore) -> None:
        self.rules = rules
        self.store = store
        self.group_id = group_id
        self.producer = producer
        self.points_topic = points_topic
        self.topic_prefix = topic_prefix
        self.publish_titles = publish_titles
        self.read_titles = read_titles
        self.books: dict[int, Book] = {}
        self.standbys = Standbys[Book](make=lambda p: Book(self.rules, self._state(str(p))), drop=lambda b: b.clear(),
                                       demote=note_no_changes)
        self.serving: set[int] = set()
        self.partition_count: int | None = None  # of the award-state topic: which partition holds a user
        self.titles = TitleBook()
        self._titles_stale = True  # re-read before deciding titles for users taken over
        self._title_queue: list[Envelope] = []
        self._title_pump: asyncio.Task | None = None
        self.last_applied_at: datetime | None = None
        self.on_partition_ready: Callable[[int], None] = lambda partition: None  # board sync, owner registry
        self.on_changed: Callable[[], None] = lambda: None
        self.on_titles: Callable[[dict[str, set[str]]], None] = lambda titles: None

    # ---- which partition holds a user ----------------------------------------------------------------
    def partition_of(self, user: str) -> int | None:
        if not self.partition_count:
            return None
        return DefaultPartitioner()(user.encode(), list(range(self.partition_count)), [])

    def book_of(self, user: str) -> Book | None:
        """The user's book if this worker serves the user's partition."""
        p = self.partition_of(user)
        return self.books.get(p) if p in self.serving else None

    def total(self, user: str) -> int:
        book = self.books.get(self.partition_of(user))  # type: ignore[arg-type]
        return book.total(user) if book else 0

    @property
    def users(self) -> int:
        return sum(len(b.ledgers) for b in _distinct(self.books))

    def _state(self, name: str) -> BookState:
        return book_state(self.store, f"book:{name}", self.rules)

    # ---- the group gives and takes partitions ---------------------------------------------------------
    def assign(self, partitions: set[TopicPartition], partition_count: int,
               reached: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        # a new or standby book has tracking off: its boards are written whole once it is restored
        staying = {id(self.books[tp.partition]) for tp in partitions if tp.partition in self.books}
        for book in self.books.values():
            if id(book) not in staying:
                book.tracking = False  # taken away: a standby copy now, or dropped
        self.books, fresh, merged = _reassign(
            self.books, partitions, self.partition_count, partition_count, reached, self.standbys,
            merge=lambda held: Book.merged(held, self._state("merged")))
        self.partition_count = partition_count or self.partition_count
        if merged:  # the merged book serves every partition given, and its boards are written whole again
            self.serving = set(self.books)
            for p in self.serving:
                self.on_partition_ready(p)
        else:
            self.serving &= set(self.books)
        if fresh:
            self._titles_stale = True
        return fresh

    def keep_standbys(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        return self.standbys.keep(partitions)

    def apply_standby(self, partition: TopicPartition, records: list[ConsumerRecord]) -> None:
        book = self.standbys.advance(partition, records)
        if book is not None:
            states, statuses, names = _stage_messages(records)
            book.apply(states, statuses, BatchResult(), names)

    def export(self, partition: TopicPartition, *, changes_only: bool) -> Export | None:
        return export_state(self.books, partition.partition, self.store, changes_only=changes_only)

    async def load_snapshot(self, partition: TopicPartition, snapshots: SnapshotLog, *, standby: bool = False
                            ) -> Loaded | None:
        return await load_state(self.books, self.standbys, partition.partition, self.store, snapshots,
                                standby=standby)

    async def restored(self, partition: TopicPartition) -> None:
        p = partition.partition
        book = self.books[p]
        book.tracking = True
        if self._titles_stale:  # another worker may have announced titles of these users since we last read
            self.titles = await self.read_titles()
            self._titles_stale = False
        self.serving.add(p)
        self.on_partition_ready(p)
        await self.sync_titles(set(book.ledgers) | {u for u in self.titles.held if self.partition_of(u) == p})
        log.info("points partition serving", extra={"partition": p, "users": len(book.ledgers)})

    # ---- batches ---------------------------------------------------------------------------------------
    async def handle(self, batches: dict[TopicPartition, Batch]) -> None:
        changed: set[str] = set()
        live = False  # a batch in a serving partition: its boards, names or exclusions may have changed
        now = datetime.now(UTC)
        for tp, batch in batches.items():
            book = self.books[tp.partition]
            states, statuses, names = _stage_messages(batch.records)
            result = BatchResult()
            book.apply(states, statuses, result, names)
            metrics.ENTRIES.inc(result.new_entries)
            metrics.CAP_HITS.inc(result.cap_hits)
            if tp.partition in self.serving:
                live = True
                changed |= result.changed_users
                _observe_lag(batch, now, self.group_id)
        self.last_applied_at = now
        if live:
            self.on_changed()
            await self.sync_titles(changed)

    # ---- honor titles ----------------------------------------------------------------------------------
    def title_changes(self, users: set[str]) -> list[Envelope]:
        titles = self.rules.titles
        if not titles:
            return []
        lowest = min(t.threshold for t in titles)
        by_name = {t.title: t for t in titles}
        held_by_user = self.titles.held
        out = []
        for user in sorted(users):
            total = self.total(user)
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
        # Deterministic id: a worker that takes the user over and announces the same change uses the same id,
        # and consumers deduplicate on it.
        event_id = str(uuid.uuid5(_TITLE_NS, f"{self.topic_prefix}|{user}|{title.title}|{cls.event_type}|{n}"))
        payload = cls(user_id=user, title=title.title, threshold=title.threshold, total_points=total,
                      rules_version=self.rules.version)
        return Envelope.wrap(payload, subject=user, version=version, id=event_id)

    async def sync_titles(self, users: set[str]) -> None:
        """Decide title changes now; publish them in the background (in order), so a slow broker round trip
        never holds up scoring. Unsent ones after a crash are decided again when the users' partition is
        restored (the book is re-read from what the points topic actually holds) and carry the same ids."""
        if not self.publish_titles or not self.rules.titles or not users:
            return
        changes = self.title_changes(users)
        if not changes:
            return
        for envelope in changes:
            self.titles.record(envelope)
        self.on_titles({e.data["user_id"]: set(self.titles.held.get(e.data["user_id"], ())) for e in changes})
        self._title_queue.extend(changes)
        if self._title_pump is None or self._title_pump.done():
            self._title_pump = asyncio.create_task(self._pump_titles(), name="points-titles")

    async def _pump_titles(self) -> None:
        while self._title_queue:
            batch = self._title_queue[:500]

            async def publish(batch: list[Envelope] = batch) -> None:
                acked = await self.producer.publish_events(self.points_topic, batch)
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
                log.warning("honor-title events left unsent at shutdown; the next owner of the users sends them")
            self._title_pump.cancel()


def _stage_messages(records: list[ConsumerRecord]) -> tuple[list[AwardState], list[StatusFact], list[NameFact]]:
    return sort_stage_messages(item for r in records for item in decode_batch(r.value))


def sort_stage_messages(items: Iterable[list]) -> tuple[list[AwardState], list[StatusFact], list[NameFact]]:
    """Stage 1's messages to stage 2 (wire items), decoded and sorted as Book.apply takes them."""
    states: list[AwardState] = []
    statuses: list[StatusFact] = []
    names: list[NameFact] = []
    for item in items:
        m = decode_stage(item)
        if isinstance(m, AwardState):
            states.append(m)
        elif isinstance(m, StatusFact):
            statuses.append(m)
        else:
            names.append(m)
    return states, statuses, names


class Standbys(Generic[T]):
    """A stage's warm copies of partitions other workers own (adapters/group_member.py: StandbyReader), each
    with the next offset it has applied. A copy becomes the partition's state when the group gives this worker
    the partition; a partition taken away from this worker becomes a copy, in case the group asks for one."""

    def __init__(self, *, make: Callable[[int], T], drop: Callable[[T], None],
                 demote: Callable[[T], None] = lambda state: None) -> None:
        self.make, self.drop, self.demote = make, drop, demote  # demote: a state this worker owned becomes a copy
        self.copies: dict[int, tuple[T, int]] = {}

    def keep(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        wanted = {tp.partition for tp in partitions}
        for p in [p for p in self.copies if p not in wanted]:
            self.drop(self.copies.pop(p)[0])
        for p in wanted - set(self.copies):
            self.copies[p] = (self.make(p), 0)
        return {tp: self.copies[tp.partition][1] for tp in partitions}

    def advance(self, partition: TopicPartition, records: list[ConsumerRecord]) -> T | None:
        """The copy to apply these records to (None: no longer held), its offset moved past them."""
        copy = self.copies.get(partition.partition)
        if copy is None:
            return None
        self.copies[partition.partition] = (copy[0], records[-1].offset + 1)
        return copy[0]

    def take(self, partition: int) -> tuple[T, int] | None:
        return self.copies.pop(partition, None)

    def put(self, partition: int, state: T, offset: int) -> None:
        self.demote(state)
        self.copies[partition] = (state, offset)

    def clear(self) -> None:
        for state, _ in self.copies.values():
            self.drop(state)
        self.copies.clear()


def _reassign(held: dict[int, T], partitions: set[TopicPartition], before: int | None, now: int,
              reached: Mapping[TopicPartition, int], standbys: Standbys[T], *, merge: Callable[[list[T]], T]
              ) -> tuple[dict[int, T], dict[TopicPartition, int], bool]:
    """A stateful stage's per-partition state after an assignment: (the state, the partitions to restore with the
    offset their state has reached, whether it was merged because the partitioning changed). A partition taken
    away becomes a standby copy (dropped by the next `Standbys.keep` unless the group wants one); a partition
    given starts from its standby copy if there is one, else from nothing."""
    if _repartitioned(before, now, held):
        standbys.clear()
        parts = _distinct(held)
        merged = merge(parts)
        for part in parts:
            standbys.drop(part)
        return {tp.partition: merged for tp in partitions}, {}, True
    wanted = {tp.partition for tp in partitions}
    positions = {tp.partition: offset for tp, offset in reached.items()}
    staying = {id(held[p]) for p in held if p in wanted}
    owners = Counter(id(state) for state in held.values())
    for p in [p for p in held if p not in wanted]:
        state = held.pop(p)
        if id(state) in staying:  # a merged state (see _repartitioned) that still serves other partitions
            continue
        if p in positions and owners[id(state)] == 1:
            standbys.put(p, state, positions[p])
        elif owners[id(state)] > 0:  # never read here, or merged and taken away whole: nothing to keep, once
            owners[id(state)] = 0
            standbys.drop(state)
    fresh: dict[TopicPartition, int] = {}
    for tp in partitions:
        if tp.partition in held:
            continue
        copy = standbys.take(tp.partition)
        held[tp.partition], fresh[tp] = copy if copy is not None else (standbys.make(tp.partition), 0)
    return held, fresh, False


def export_state(held: dict[int, Derivation] | dict[int, Book], partition: int, store: StateStore, *,
                 changes_only: bool) -> Export | None:
    """A partition's engine as it is now, for a snapshot: its keys, or those changed since its last snapshot if
    it knows them (read later from a fixed view of the store); its values outside them with the count of each
    map (copied now: the stage goes on changing them). Its changes are counted from now on."""
    engine = held.get(partition)
    if engine is None or sum(e is engine for e in held.values()) > 1:  # merged: it serves other partitions too
        return None
    maps = list(engine.state)
    meta = {"engine": engine.snapshot_meta(),
            "counts": {m.prefix.decode(): len(m) for m in maps if isinstance(m, StateMap)}}
    changes_only = changes_only and all(m.noting for m in maps)
    pairs = store.export(maps, changes_only=changes_only)
    return Export(pairs, orjson.loads(orjson.dumps(meta)), changes_only)


async def load_state(held: dict, standbys: "Standbys", partition: int, store: StateStore, snapshots: SnapshotLog, *,
                     standby: bool) -> Loaded | None:
    """The partition's fresh engine (its maps empty), or its new standby copy, from the partition's newest
    snapshot; None (and still empty) if there is none."""
    engine = standbys.copies[partition][0] if standby else held[partition]
    started = time.monotonic()
    try:
        loaded = await snapshots.load_latest(partition, store.load)
    except Exception as exc:  # noqa: BLE001 - the input is the truth: restore from its start instead
        log.warning("points snapshot not loaded; restoring from the input's start",
                    extra={"topic": snapshots.topic, "partition": partition, "error": repr(exc)})
        loaded = None
    if loaded is None:
        engine.clear()  # whatever a snapshot found incomplete left in the store
        return None
    engine.load_meta(loaded.meta["engine"])
    for m in engine.state:
        m.note_changes(True)  # the next snapshot may hold only what changes from here
        if isinstance(m, StateMap):
            m.loaded(loaded.meta["counts"].get(m.prefix.decode(), 0))
    if standby:
        standbys.put(partition, engine, loaded.input_offset)
    log.info("points partition loaded from a snapshot", extra={
        "topic": snapshots.topic, "partition": partition, "input_offset": loaded.input_offset,
        "keys": loaded.keys, "seconds": round(time.monotonic() - started, 2)})
    return loaded


def note_no_changes(engine: Derivation | Book) -> None:
    """A copy notes no changes (they would pile up for as long as it stays a copy): its first snapshot after a
    takeover is whole."""
    for m in engine.state:
        m.note_changes(False)


def _repartitioned(before: int | None, now: int, held: dict) -> bool:
    """The topic under the state this worker holds has another partition count than when the state was built: a
    broker that came back empty, whose topics were made again with another count (by a worker configured with
    another `points_partitions`; no Agora client has a broker create a topic by asking for it). The state cannot
    be split by the new partitioning, so the worker keeps it whole, shared by all the partitions it is given (it
    is then the only worker, as in `make run`); production Kafka keeps its topics."""
    if before is None or not now or now == before or not held:
        return False
    log.warning("the points topic now has %d partitions, not %d: keeping this worker's state whole", now, before)
    return True


def _distinct(held: dict) -> list:
    return list({id(v): v for v in held.values()}.values())


def _observe_lag(batch: Batch, now: datetime, group_id: str) -> None:
    """Event time to applied, per message of award states (the oldest event of the batch that produced it)."""
    now_us = now.timestamp() * 1e6
    observe, age = metrics.LAG.observe, common_metrics.EVENT_AGE.labels(group_id).observe
    for r in batch.records:
        for name, value in r.headers or ():
            if name == _EVENT_TIME:
                lag = max((now_us - int(value)) / 1e6, 0.0)
                observe(lag)
                age(lag)
                break

"""One stage of the points pipeline as a member of a consumer group that every worker joins: the broker shares
the stage's partitions among the workers and moves them when one joins, leaves or dies.

A stateful stage keeps state per partition. A partition it is given without state is restored from its newest
state snapshot (adapters/snapshots.py; written by its owners in the background) and then by reading the partition
from the snapshot's offset, or from its beginning without one: records below the group's committed offset are
replayed (their outputs were sent by the previous owner), later ones are handled as new. A partition it still
holds (a rebalance that gave it back, or a broker that lost the group) keeps its state and goes on from where
this worker was. Offsets are
committed only after a batch's outputs were acknowledged, so a crash redoes at most what was not committed,
and every stage ignores what it has already seen.

Standby replicas (Kafka Streams' idea): the group's assignor (`StandbyAssignor`) also names, for every partition,
one other member that keeps a warm copy of its state, fed by a `StandbyReader` up to the owner's committed
offset. When the owner dies, the assignor gives the partition to the member holding the copy, whose restore
then reads only what the copy had not yet reached, not the whole history. The assignor is sticky too: members
keep the partitions they have, so a rebalance moves only what it must.

An assignment is taken up by the stage's own loop, between batches, not in the broker client's rebalance callback:
aiokafka sends no heartbeat while that callback runs, so a restore there (snapshot loads take seconds, more with
a large state) had the broker drop the member from its group, and its rejoin moved the partitions again.
"""

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from agora_common.kafka import CONSUMER_TIMEOUTS, Kafka, LostLogs, kafka_connection
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata
from aiokafka.errors import KafkaError

from agora_points import metrics
from agora_points.adapters.snapshots import Base, Export, Loaded, SnapshotLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotChain:
    """A partition's newest snapshot that this worker wrote or loaded, which the next may hold only the changes
    since: what its chain weighs."""

    newest: Base
    whole_bytes: int  # the whole snapshot the chain starts from
    changes_bytes: int  # the snapshots of changes on top of it

    @property
    def long(self) -> bool:
        """Time for a whole snapshot again: a load would read the state's size again in changes."""
        return self.changes_bytes >= self.whole_bytes


@dataclass(slots=True)
class Batch:
    records: list[ConsumerRecord]
    replay_below: int  # records before this offset are a restore's replay: their outputs were already sent


class Stage(Protocol):
    stateful: bool

    def assign(self, partitions: set[TopicPartition], partition_count: int,
               reached: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        """The partitions this worker now has (of a topic with partition_count partitions). Return those to
        restore, each with the offset its state has reached (0: no state; more: a standby copy taken over). The
        state of a partition taken away (handled up to `reached`) is kept as a standby copy or dropped."""

    def keep_standbys(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        """Stateful stages: keep warm copies of exactly these partitions (drop any other); return each one's next
        offset."""

    def apply_standby(self, partition: TopicPartition, records: list[ConsumerRecord]) -> None:
        """Stateful stages: apply records (below the owner's committed offset) to a warm copy, sending nothing."""

    def export(self, partition: TopicPartition, *, changes_only: bool) -> Export | None:
        """Stateful stages: the partition's state as it is now (its keys, or those changed since its last snapshot
        if it knows them, read later from a fixed view of the store, and the engine's values outside them), for a
        state snapshot; None if it cannot be taken alone."""

    async def load_snapshot(self, partition: TopicPartition, snapshots: SnapshotLog, *, standby: bool = False
                            ) -> Loaded | None:
        """Stateful stages: a partition given without state (or a new standby copy of one) starts from its newest
        snapshot, if there is one."""

    async def handle(self, batches: dict[TopicPartition, Batch]) -> None:
        """Apply one fetch; return once its outputs are acknowledged (then its offsets are committed)."""

    async def restored(self, partition: TopicPartition) -> None:
        """A partition given without state has been read up to the end it had: it serves from now on."""


class StandbyAssignor(AbstractPartitionAssignor):
    """Sticky, balanced, standby-aware. Each member says in its join metadata which partitions it owns and which
    it keeps warm copies of. The leader then (1) lets every member keep what it owns, up to an even share; (2)
    gives each remaining partition to a member under its share that has a warm copy of it (a standby, or an
    owner that had to give it up), else to the member with the fewest; (3) names, when there are two members or
    more, one other member per partition to keep a standby (the one with a copy already, else the one with the
    fewest). The standbys travel in each member's assignment user data."""

    name = "agora-sticky-standby"
    version = 0

    def __init__(self, member: "GroupMember") -> None:
        self.member = member

    def metadata(self, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        member = self.member  # what it holds, and what it is restoring (a rebalance may come amid a restore)
        held = {"owned": _pairs(member.owned | member.taking), "standbys": _pairs(member.standby_positions)}
        return ConsumerProtocolMemberMetadata(self.version, sorted(topics), json.dumps(held).encode())

    def assign(self, cluster: ClusterMetadata, members: Mapping[str, ConsumerProtocolMemberMetadata]
               ) -> dict[str, ConsumerProtocolMemberAssignment]:
        topics = sorted({t for m in members.values() for t in m.subscription})
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(cluster.partitions_for_topic(t) or ())]
        held = {member: _held(m.user_data) for member, m in members.items()}
        owners, standbys = plan_assignment(partitions, held)
        out = {}
        for member in members:
            mine = [tp for tp in partitions if owners[tp] == member]
            user_data = json.dumps({"standbys": _pairs(tp for tp, m in standbys.items() if m == member)}).encode()
            out[member] = ConsumerProtocolMemberAssignment(
                self.version, [(t, [tp.partition for tp in mine if tp.topic == t]) for t in topics], user_data)
        return out

    def on_assignment(self, assignment: ConsumerProtocolMemberAssignment) -> None:
        self.member.standbys = {TopicPartition(t, p) for t, p in _held(assignment.user_data).get("standbys", ())}


def plan_assignment(partitions: list[TopicPartition], held: Mapping[str, dict[str, list]]
                    ) -> tuple[dict[TopicPartition, str], dict[TopicPartition, str]]:
    """(owner of each partition, the member keeping its standby copy) for members that say what they hold."""
    members = sorted(held)
    owned = {m: {TopicPartition(t, p) for t, p in held[m].get("owned", ())} for m in members}
    warm = {m: owned[m] | {TopicPartition(t, p) for t, p in held[m].get("standbys", ())} for m in members}
    share, extra = divmod(len(partitions), len(members))
    quota = {m: share + (1 if i < extra else 0) for i, m in enumerate(members)}  # sorted: every leader agrees
    owners: dict[TopicPartition, str] = {}
    count = dict.fromkeys(members, 0)
    for m in members:  # (1) sticky
        for tp in sorted(owned[m]):
            if tp in partitions and tp not in owners and count[m] < quota[m]:
                owners[tp], count[m] = m, count[m] + 1
    for tp in partitions:  # (2) the rest: to a warm copy if one has room, else to the emptiest
        if tp in owners:
            continue
        room = [m for m in members if count[m] < quota[m]]
        m = next((m for m in room if tp in warm[m]), None) or min(room, key=lambda m: (count[m], m))
        owners[tp], count[m] = m, count[m] + 1
    standbys: dict[TopicPartition, str] = {}
    if len(members) > 1:  # (3)
        load = dict.fromkeys(members, 0)
        for tp in partitions:
            others = [m for m in members if m != owners[tp]]
            m = next((m for m in others if tp in warm[m]), None) or min(others, key=lambda m: (load[m], m))
            standbys[tp], load[m] = m, load[m] + 1
    return owners, standbys


def _pairs(partitions: Iterable[TopicPartition]) -> list[list]:
    return sorted([tp.topic, tp.partition] for tp in partitions)


def _held(user_data: bytes) -> dict[str, list]:
    """A member's metadata or assignment user data; empty from a member of an older version or another
    assignor, which the plan reads as holding nothing."""
    try:
        data = json.loads(user_data or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class GroupMember:
    def __init__(self, kafka: Kafka, *, group_id: str, topics: Iterable[str], stage: Stage, batch_max: int,
                 upstream: "GroupMember | None" = None, poll_ms: int = 50, commit_interval: float = 1.0,
                 standby_replicas: bool = False, snapshots: SnapshotLog | None = None,
                 snapshot_bytes: int = 0, name: str | None = None) -> None:
        self.kafka = kafka_connection(kafka)
        self.group_id = group_id
        self.name = name or group_id  # the stage's, in its metrics
        self.topics = list(topics)
        self.stage = stage
        self.batch_max = batch_max
        self.upstream = upstream  # caught up only after it: a pipeline is caught up from its source on
        # The broker's fetch wait. Short waits cost a fetch cycle (request, response, a batch's fixed costs) per
        # few events in each of a worker's three stages, and at 2,000 events/s those cycles kept one core busy;
        # measured there (200,000-event history, Tansu): p50 / p99 publish -> visible 159 / 503-1,223 ms at 5 ms,
        # 127 / 319 at 20, 118 / 284 at 50, 151 / 316 at 100.
        self.poll_ms = poll_ms
        self.commit_interval = commit_interval
        self.owned: set[TopicPartition] = set()
        self.reached: dict[TopicPartition, int] = {}  # next offset to handle
        self.committed: dict[TopicPartition, int] = {}
        self.restoring: set[TopicPartition] = set()
        self.replay_below: dict[TopicPartition, int] = {}
        self.standby_replicas = standby_replicas and stage.stateful
        self.standbys: set[TopicPartition] = set()  # what the assignor asked this worker to keep warm copies of
        self.standby_positions: dict[TopicPartition, int] = {}  # the copies kept since the last assignment
        self.generation = 0  # assignments so far: the standby reader follows each
        self.standby_reader = StandbyReader(self) if self.standby_replicas else None
        self.assigned_once = False
        self.caught_up = False  # every partition it had was, once, read to its end (after the upstream stage)
        self.records_handled = 0
        self.records_replayed = 0  # read again by restores (below the group's committed offset)
        # State snapshots (adapters/snapshots.py): one of a partition once the input handled since its last one
        # is `snapshot_bytes`, so a restore replays at most that much input after loading one. It holds only the
        # keys changed since the last one this worker wrote or loaded (what it costs follows the input), or the
        # whole state when there is none or the changes since the last whole one add up to its size.
        self.snapshots = snapshots if stage.stateful and snapshot_bytes > 0 else None
        self.snapshot_bytes = snapshot_bytes
        self.unsnapshotted: dict[TopicPartition, int] = {}  # input bytes handled since the partition's last one
        self.snapshot_chains: dict[TopicPartition, SnapshotChain] = {}  # of partitions owned or copied
        self.stopping = False  # a clean stop (stop()): the loop ends after its batch, then the last snapshots
        self.snapshots_written = 0
        self.snapshot_keys_written = 0
        self.snapshot_bytes_written = 0
        self.snapshot_keys_loaded = 0
        self._snapshot_queue: list[tuple[TopicPartition, int, Export]] = []  # exported, to be written in order
        self._snapshot_writing: TopicPartition | None = None
        self._snapshotting: asyncio.Task | None = None  # the writer, while the queue has snapshots
        self._consumer: AIOKafkaConsumer | None = None
        self._lost_logs: LostLogs | None = None
        self.assignment: set[TopicPartition] | None = None  # the newest one the group gave, not yet taken up
        self.taking: set[TopicPartition] = set()  # the partitions of the one being taken up
        # held by taking an assignment up and by the standby reader's loads of new copies, which run beside the
        # stage's loop: an assignment may take a copy over, never one half loaded
        self.copies_lock = asyncio.Lock()

    async def run(self) -> None:
        consumer = self._consumer = AIOKafkaConsumer(
            **self.kafka.client_options(), group_id=self.group_id, client_id=self.group_id,
            enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=self.poll_ms,
            max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024,
            # sticky and standby-aware for the stateful stages; round robin still listed, so that a group whose
            # members do not all know the first yet (a rolling upgrade) agrees on the second
            partition_assignment_strategy=(
                *([StandbyAssignor(self)] if self.stage.stateful else []), RoundRobinPartitionAssignor),
            **CONSUMER_TIMEOUTS,
            # aiokafka leaves the group when the loop has not fetched for this long, and taking an assignment up
            # loads its snapshots in the loop first: minutes for a worker given a large state alone (5 by default)
            max_poll_interval_ms=30 * 60_000,
            metadata_max_age_ms=5_000,  # a topic created again (a broker that came back empty) is seen soon
        )
        consumer.subscribe(self.topics, listener=_Rebalance(self))
        await consumer.start()
        self._lost_logs = LostLogs(consumer)
        standby = asyncio.create_task(self.standby_reader.run(), name=f"{self.group_id}-standby") \
            if self.standby_reader else None
        try:
            last_commit = time.monotonic()
            while not self.stopping:
                if self.assignment is not None:
                    async with self.copies_lock:
                        await self.assigned()
                got = await consumer.getmany(timeout_ms=self.poll_ms * 4, max_records=self.batch_max)
                if self.assignment is not None:
                    continue  # one came meanwhile: taken up first (it positions every partition again)
                batches = {tp: Batch(records, self.replay_below.get(tp, 0))
                           for tp, records in got.items() if records and tp in self.owned}
                if batches:
                    started = time.time()
                    await self.stage.handle(batches)
                    self._observe(batches, started)
                    for tp, batch in batches.items():
                        self.reached[tp] = batch.records[-1].offset + 1
                        self.records_handled += len(batch.records)
                        if self.snapshots is not None:
                            self.unsnapshotted[tp] = self.unsnapshotted.get(tp, 0) + sum(
                                len(r.value or b"") for r in batch.records)
                        if batch.replay_below:
                            self.records_replayed += sum(r.offset < batch.replay_below for r in batch.records)
                await self._check_restored()
                if standby is not None and standby.done():
                    standby.result()  # its failure is the stage's: raise it here
                if time.monotonic() - last_commit > self.commit_interval:
                    await self._reread_lost_logs()
                    await self.commit()
                    last_commit = time.monotonic()
                self._snapshot_if_due()
            await self.commit()
            await self._last_snapshots()
        except asyncio.CancelledError:
            await asyncio.shield(self.commit())
            raise
        finally:
            if self._snapshotting is not None:  # before the store closes under its reads
                self._snapshotting.cancel()
                await asyncio.gather(self._snapshotting, return_exceptions=True)
            self._snapshot_queue.clear()
            if standby is not None:
                standby.cancel()
                await asyncio.gather(standby, return_exceptions=True)
            self._consumer = None
            await consumer.stop()

    def _observe(self, batches: dict[TopicPartition, Batch], started: float) -> None:
        """Where the batch's time went: waiting to be handled (since its oldest record of a partition this worker
        serves was written) and being handled. Not for a restore's records, which wait as long as the history."""
        serving = [batch.records[0].timestamp for tp, batch in batches.items() if tp not in self.restoring]
        if serving:
            metrics.STAGE_WAIT.labels(self.name).observe(max(started - min(serving) / 1000, 0.0))
            metrics.STAGE_HANDLE.labels(self.name).observe(time.time() - started)

    def behind_by(self) -> int | None:
        """Records of its partitions not handled yet, by the latest fetch responses (None: not known yet)."""
        if self._consumer is None:
            return None
        total = 0
        for tp in self.owned:
            end = self._consumer.highwater(tp)
            if end is None:
                return None
            total += max(end - self.reached.get(tp, 0), 0)
        return total

    def _behind(self, tp: TopicPartition) -> bool:
        assert self._consumer is not None
        end = self._consumer.highwater(tp)  # from the latest fetch response: None until one came
        return end is None or self.reached.get(tp, 0) < end

    async def _check_restored(self) -> None:
        for tp in [tp for tp in self.restoring if not self._behind(tp)]:
            self.restoring.discard(tp)
            self.replay_below.pop(tp, None)
            await self.stage.restored(tp)
        if not self.caught_up and self.assigned_once and not self.restoring \
                and (self.upstream is None or self.upstream.caught_up) \
                and not any(self._behind(tp) for tp in self.owned):
            self.caught_up = True
            log.info("points stage caught up", extra={"group": self.group_id, "records": self.records_handled})

    async def _reread_lost_logs(self) -> None:
        """Partitions that lost their log (kafka.LostLogs), judged by what this stage handled: read again from
        their start. Safe: every stage ignores what it has already seen."""
        assert self._consumer is not None
        assert self._lost_logs is not None
        for tp in await self._lost_logs.find(handled={tp: self.reached.get(tp, 0) for tp in self.owned}):
            self._consumer.seek(tp, 0)
            self.reached[tp] = self.committed[tp] = 0
            self.replay_below.pop(tp, None)  # nothing in the new log was handled before
            self.snapshot_chains.pop(tp, None)  # the snapshots' log is likely gone too: the next one is whole

    def _snapshot_if_due(self) -> None:
        """Between batches (so everything the state holds has had its outputs acknowledged): export the partition
        with the most input since its last snapshot, if that is enough, for the writer to write in the background
        from a fixed view of the store while the stage goes on. One per batch: an export writes out the
        partition's values decoded in memory first, a pause of the stage (~100 ms for a 128 MiB cache, measured),
        so several at once would add up. Not while the partition's last one is still to be written: the next
        may hold only the changes since that one."""
        if self.snapshots is None:
            return
        if self._snapshotting is not None and self._snapshotting.done():
            self._snapshotting = None
        busy = {tp for tp, *_ in self._snapshot_queue} | {self._snapshot_writing}
        # restoring partitions too
        due = [tp for tp in self.owned - busy if self.unsnapshotted.get(tp, 0) >= self.snapshot_bytes]
        if not due:
            return
        self._queue_snapshot(max(due, key=lambda tp: self.unsnapshotted[tp]))

    def _queue_snapshot(self, tp: TopicPartition) -> None:
        """Export the partition now, for the writer to write after the snapshots queued before it."""
        chain = self.snapshot_chains.get(tp)
        started = time.perf_counter()
        if (exported := self.stage.export(tp, changes_only=chain is not None and not chain.long)) is None:
            return
        metrics.SNAPSHOT_EXPORT.labels(_kind(exported)).observe(time.perf_counter() - started)
        self._snapshot_queue.append((tp, self.reached[tp], exported))
        self.unsnapshotted[tp] = 0
        if self._snapshotting is None or self._snapshotting.done():
            self._snapshotting = asyncio.create_task(self._write_snapshots(), name=f"{self.group_id}-snapshot")

    def stop(self) -> None:
        """Stop cleanly: the loop ends after the batch it is handling, commits, and writes its last snapshots
        (`run` returns once they are written; cancel it to give them up)."""
        self.stopping = True

    async def _last_snapshots(self) -> None:
        """On a clean stop: the snapshots queued, then one of every partition with input handled since its last,
        so that whoever is given the partition next loads it and reads almost none of its input again (a restore
        after a crash reads what came after the newest snapshot the writer had finished). Unthrottled: nothing
        else needs the core now. Each is on top of the one queued before it (the writer writes them in order). If
        the stop's time limit cancels this, what was not finished has no manifest and is never read."""
        if self.snapshots is None:
            return
        for tp in sorted(self.owned, key=lambda tp: tp.partition):
            if self.unsnapshotted.get(tp, 0) > 0:
                self._queue_snapshot(tp)
        self.snapshots.idle_per_busy = 0.0
        if self._snapshotting is not None:
            await self._snapshotting

    async def _write_snapshots(self) -> None:
        assert self.snapshots is not None
        while self._snapshot_queue:
            tp, offset, exported = self._snapshot_queue.pop(0)
            on_top_of = self.snapshot_chains.get(tp) if exported.changes_only else None  # None: whole
            if exported.changes_only and on_top_of is None:  # the partition moved, or its last one failed: the
                continue  # changes are not on top of anything known (the next export is whole)
            self._snapshot_writing = tp
            started = time.monotonic()
            try:
                written = await self.snapshots.write(
                    tp.partition, input_offset=offset, meta=exported.meta, pairs=exported.pairs,
                    base=on_top_of.newest if on_top_of else None)
            except Exception as exc:  # noqa: BLE001 - cut short (never read: no manifest); the partition is due
                # again after another interval of input, not at once (a broker without the topic would make that
                # a loop of failures), and that one is whole
                self.snapshot_chains.pop(tp, None)
                log.warning("points state snapshot not written; the next one is tried later",
                            extra={"group": self.group_id, "partition": tp.partition, "error": repr(exc)})
                continue
            finally:
                self._snapshot_writing = None
            self.snapshots_written += 1
            self.snapshot_keys_written += written.keys
            self.snapshot_bytes_written += written.bytes
            metrics.SNAPSHOT_BYTES.labels(_kind(exported)).inc(written.bytes)
            self.snapshot_chains[tp] = SnapshotChain(
                written.manifest, on_top_of.whole_bytes, on_top_of.changes_bytes + written.bytes) if on_top_of \
                else SnapshotChain(written.manifest, written.bytes, 0)
            log.info("points state snapshot written", extra={
                "group": self.group_id, "partition": tp.partition, "input_offset": offset, "keys": written.keys,
                "kind": _kind(exported), "bytes": written.bytes,
                "seconds": round(time.monotonic() - started, 2)})

    def _loaded(self, tp: TopicPartition, loaded: Loaded | None) -> None:
        """A partition's state (or copy) started empty, from this snapshot if one was loaded."""
        if loaded is None:
            self.snapshot_chains.pop(tp, None)
            return
        self.snapshot_keys_loaded += loaded.keys
        self.snapshot_chains[tp] = SnapshotChain(loaded.manifest, loaded.bytes, loaded.changes_bytes)

    async def commit(self) -> None:
        consumer = self._consumer
        offsets = {tp: n for tp, n in self.reached.items() if tp in self.owned and n > self.committed.get(tp, 0)}
        if consumer is None or not offsets:
            return
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:  # e.g. a rebalance under way: the new owner redoes the rest, which is harmless
            log.warning("commit failed", extra={"group": self.group_id, "error": repr(exc)})
            return
        self.committed.update(offsets)

    def assignment_arrived(self, partitions: set[TopicPartition]) -> None:
        """The group gave this worker these partitions (the rebalance callback): nothing is fetched from them until
        the loop has taken the assignment up."""
        assert self._consumer is not None
        self._consumer.pause(*partitions)
        self.assignment = partitions

    async def assigned(self) -> None:
        """Take up the newest assignment: restore what is new, position every partition, resume. Between batches,
        in the stage's loop, while the broker client goes on heartbeating."""
        consumer = self._consumer
        assert consumer is not None and self.assignment is not None
        partitions, self.assignment = self.assignment, None
        # A topic that is gone (a broker that came back empty) gives no partitions until it is created again: the
        # state of its partitions is kept (and served) meanwhile, not dropped, or the history would be lost.
        gone = {tp for tp in self.owned if not consumer.partitions_for_topic(tp.topic)}
        owned = set(partitions)
        # Nothing is fetched or handled until every partition is positioned below (they are paused since the
        # callback): this awaits the broker and snapshot loads meanwhile.
        self.owned, self.taking = set(), owned
        self.restoring &= owned
        count = len(consumer.partitions_for_topic(self.topics[0]) or ())
        fresh = self.stage.assign(owned | gone, count, self.reached)
        if self.snapshots is not None:  # a partition without state starts from its newest snapshot, if any
            empty = [tp for tp, offset in fresh.items() if offset == 0]
            for tp, loaded in zip(empty, await asyncio.gather(
                    *(self.stage.load_snapshot(tp, self.snapshots) for tp in empty)), strict=True):
                self._loaded(tp, loaded)
                if loaded is not None:
                    fresh[tp] = loaded.input_offset
        for tp in fresh:
            self.unsnapshotted.pop(tp, None)
        for tp in [tp for tp in self.reached if tp not in owned | gone]:
            del self.reached[tp]
        ordered = sorted(owned)
        for tp, committed in zip(ordered, await asyncio.gather(*(consumer.committed(tp) for tp in ordered)),
                                 strict=True):
            self.committed[tp] = committed or 0
        # Another assignment came meanwhile: aiokafka already gave up what it does not hold, so nothing is
        # positioned here; the next one starts from this one's result (its partitions' state restored, kept, or
        # made standby copies from where they are).
        newer = self.assignment is not None
        for tp in owned:  # no await from here until they are owned
            if not self.stage.stateful:  # from where it was if it kept the partition, else the group's offset
                self.reached[tp] = self.reached.get(tp, self.committed[tp])
            elif tp in fresh:  # restore: read it from where its state is (the start, or a standby copy's offset),
                # replaying what was already handled
                self.replay_below[tp] = self.committed[tp]
                self.reached[tp] = fresh[tp]
                self.restoring.add(tp)
            else:  # kept: go on from where this worker and the group both were (everything if the broker lost
                # the group's offsets, e.g. one that came back empty): what is read again is ignored as seen
                self.reached[tp] = min(self.reached.get(tp, 0), self.committed[tp])
        self.owned, self.taking = owned, set()
        if newer:
            return
        for tp in owned:
            consumer.seek(tp, self.reached[tp])
        consumer.resume(*owned)
        if self.stage.stateful:  # without standby replicas this drops the state of every partition taken away
            self.standby_positions = self.stage.keep_standbys(
                self.standbys - self.owned if self.standby_replicas else set())
        for tp in [tp for tp in self.snapshot_chains if tp not in self.owned and tp not in self.standby_positions]:
            del self.snapshot_chains[tp]  # its state is dropped here
        self.generation += 1
        self.assigned_once = True
        log.info("points partitions assigned", extra={
            "group": self.group_id, "partitions": sorted(f"{tp.topic}/{tp.partition}" for tp in self.owned),
            "restoring": {f"{tp.topic}/{tp.partition}": fresh[tp] for tp in sorted(fresh)},
            "standbys": sorted(f"{tp.topic}/{tp.partition}" for tp in self.standbys)})

    async def load_new_copies(self) -> None:
        """The standby copies the last assignment made new, each from its partition's newest snapshot if there is
        one (the reader then applies only what came after it). The standby reader's, beside the stage's loop: the
        partitions this worker owns are served meanwhile. Hold copies_lock."""
        if self.snapshots is None:
            return
        new = [tp for tp, offset in self.standby_positions.items() if offset == 0]
        for tp, loaded in zip(new, await asyncio.gather(
                *(self.stage.load_snapshot(tp, self.snapshots, standby=True) for tp in new)), strict=True):
            self._loaded(tp, loaded)
            if loaded is not None:
                self.standby_positions[tp] = loaded.input_offset


def _kind(exported: Export) -> str:
    return "changes" if exported.changes_only else "whole"


class StandbyReader:
    """Feeds the warm copies the assignor gave this worker: reads their partitions (without joining the group)
    and applies each record below the owner's committed offset, so a copy never holds what the owner has not
    yet acknowledged downstream (its takeover replays up to that offset and sends the rest itself)."""

    def __init__(self, member: GroupMember, *, refresh_s: float = 1.0) -> None:
        self.member = member
        self.refresh_s = refresh_s
        self.applied: dict[TopicPartition, int] = {}  # next offset per copy

    async def run(self) -> None:
        member = self.member
        # the group's id to read its committed offsets; manually assigned, so never a member of it
        consumer = AIOKafkaConsumer(
            **member.kafka.client_options(), group_id=member.group_id, client_id=f"{member.group_id}-standby",
            enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=member.poll_ms * 4,
            max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)
        await consumer.start()
        try:
            generation = 0
            assigned: set[TopicPartition] = set()
            limits: dict[TopicPartition, int] = {}
            refreshed = 0.0
            while True:
                if member.generation != generation:  # the copies the last assignment left this worker
                    async with member.copies_lock:
                        generation = member.generation
                        await member.load_new_copies()
                        self.applied = dict(member.standby_positions)
                    assigned, limits, refreshed = set(self.applied), {}, 0.0
                    consumer.assign(sorted(assigned))
                    for tp, offset in self.applied.items():
                        consumer.seek(tp, offset)
                if not assigned:
                    await asyncio.sleep(self.refresh_s)
                    continue
                if time.monotonic() - refreshed > self.refresh_s:
                    refreshed = time.monotonic()
                    try:
                        limits = {tp: await consumer.committed(tp) or 0 for tp in assigned}
                    except KafkaError as exc:  # the broker away: the copies wait, as the owners do
                        log.warning("standby copies: committed offsets not read",
                                    extra={"group": member.group_id, "error": repr(exc)})
                    consumer.resume(*[tp for tp in assigned if self.applied.get(tp, 0) < limits.get(tp, 0)])
                got = await consumer.getmany(timeout_ms=member.poll_ms * 4, max_records=member.batch_max)
                for tp, records in got.items():
                    if tp not in assigned or member.generation != generation:
                        continue  # reassigned meanwhile (a copy taken over is restored from its own offset)
                    below = [r for r in records if r.offset < limits.get(tp, 0)]
                    if below:
                        member.stage.apply_standby(tp, below)
                        self.applied[tp] = below[-1].offset + 1
                    if len(below) < len(records):  # at the owner's commit: wait for it to move on
                        consumer.seek(tp, self.applied.get(tp, 0))
                        consumer.pause(tp)
        finally:
            await consumer.stop()


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, member: GroupMember) -> None:
        self.member = member

    async def on_partitions_revoked(self, revoked) -> None:
        await self.member.commit()  # what was handled: the next owner starts there

    async def on_partitions_assigned(self, assigned) -> None:
        # Only noted: aiokafka sends no heartbeat until this returns (GroupMember.assigned does the work). What that
        # raises stops the stage's loop, so the worker is not live and is restarted (aiokafka would only log it).
        self.member.assignment_arrived(set(assigned))

"""One stage of the points pipeline as a member of a consumer group that every worker joins: the broker shares
the stage's partitions among the workers and moves them when one joins, leaves or dies.

A stateful stage keeps state per partition. A partition it is given without state is restored by reading
the partition from its beginning: records below the group's committed offset are replayed (their outputs were
sent by the previous owner), later ones are handled as new. A partition it still holds (a rebalance that gave
it back, or a broker that lost the group) keeps its state and goes on from where this worker was. Offsets are
committed only after a batch's outputs were acknowledged, so a crash redoes at most what was not committed,
and every stage ignores what it has already seen.
"""

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from agora_common.kafka import CONSUMER_TIMEOUTS, Kafka, kafka_connection
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Batch:
    records: list[ConsumerRecord]
    replay_below: int  # records before this offset are a restore's replay: their outputs were already sent


class Stage(Protocol):
    stateful: bool

    def assign(self, partitions: set[TopicPartition], partition_count: int) -> set[TopicPartition]:
        """The partitions this worker now has (of a topic with partition_count partitions): drop the state of any
        other, return those without state."""

    async def handle(self, batches: dict[TopicPartition, Batch]) -> None:
        """Apply one fetch; return once its outputs are acknowledged (then its offsets are committed)."""

    async def restored(self, partition: TopicPartition) -> None:
        """A partition given without state has been read up to the end it had: it serves from now on."""


class GroupMember:
    def __init__(self, kafka: Kafka, *, group_id: str, topics: Iterable[str], stage: Stage, batch_max: int,
                 upstream: "GroupMember | None" = None, poll_ms: int = 5, commit_interval: float = 1.0) -> None:
        self.kafka = kafka_connection(kafka)
        self.group_id = group_id
        self.topics = list(topics)
        self.stage = stage
        self.batch_max = batch_max
        self.upstream = upstream  # caught up only after it: a pipeline is caught up from its source on
        self.poll_ms = poll_ms
        self.commit_interval = commit_interval
        self.owned: set[TopicPartition] = set()
        self.reached: dict[TopicPartition, int] = {}  # next offset to handle
        self.committed: dict[TopicPartition, int] = {}
        self.restoring: set[TopicPartition] = set()
        self.replay_below: dict[TopicPartition, int] = {}
        self.assigned_once = False
        self.caught_up = False  # every partition it had was, once, read to its end (after the upstream stage)
        self.records_handled = 0
        self._consumer: AIOKafkaConsumer | None = None

    async def run(self) -> None:
        consumer = self._consumer = AIOKafkaConsumer(
            **self.kafka.client_options(), group_id=self.group_id, client_id=self.group_id,
            enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=self.poll_ms,
            max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024,
            partition_assignment_strategy=(RoundRobinPartitionAssignor,), **CONSUMER_TIMEOUTS,
            metadata_max_age_ms=5_000,  # a topic created again (a broker that came back empty) is seen soon
        )
        consumer.subscribe(self.topics, listener=_Rebalance(self))
        await consumer.start()
        try:
            last_commit = time.monotonic()
            while True:
                got = await consumer.getmany(timeout_ms=self.poll_ms * 20, max_records=self.batch_max)
                batches = {tp: Batch(records, self.replay_below.get(tp, 0))
                           for tp, records in got.items() if records and tp in self.owned}
                if batches:
                    await self.stage.handle(batches)
                    for tp, batch in batches.items():
                        self.reached[tp] = batch.records[-1].offset + 1
                        self.records_handled += len(batch.records)
                await self._check_restored()
                if time.monotonic() - last_commit > self.commit_interval:
                    self._reread_shrunk_logs()
                    await self.commit()
                    last_commit = time.monotonic()
        except asyncio.CancelledError:
            await asyncio.shield(self.commit())
            raise
        finally:
            self._consumer = None
            await consumer.stop()

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

    def _reread_shrunk_logs(self) -> None:
        """A partition whose end is now before what this worker has read lost its log (a broker that came back
        empty, e.g. the in-memory one of `make run`): read it again from its start, or new records would wait
        until the new log outgrew the old position. Safe: every stage ignores what it has already seen."""
        assert self._consumer is not None
        for tp in list(self.owned):
            end = self._consumer.highwater(tp)
            if end is not None and end < self.reached.get(tp, 0):
                log.warning("partition %s ends at %d, before the %d read here: its log was lost; reading it again",
                            tp, end, self.reached[tp])
                self._consumer.seek(tp, 0)
                self.reached[tp] = self.committed[tp] = 0
                self.replay_below.pop(tp, None)  # nothing in the new log was handled before

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

    async def assigned(self, partitions: set[TopicPartition]) -> None:
        consumer = self._consumer
        assert consumer is not None
        # A topic that is gone (a broker that came back empty) gives no partitions until it is created again: the
        # state of its partitions is kept (and served) meanwhile, not dropped, or the history would be lost.
        gone = {tp for tp in self.owned if not consumer.partitions_for_topic(tp.topic)}
        self.owned = set(partitions)
        for tp in [tp for tp in self.reached if tp not in self.owned | gone]:
            del self.reached[tp]
        self.restoring &= self.owned
        fresh = self.stage.assign(self.owned | gone, len(consumer.partitions_for_topic(self.topics[0]) or ()))
        for tp in self.owned:
            self.committed[tp] = await consumer.committed(tp) or 0
            if not self.stage.stateful:
                self.reached[tp] = await consumer.position(tp)
            elif tp in fresh:  # restore: read it from the start, replaying what was already handled
                self.replay_below[tp] = self.committed[tp]
                self.reached[tp] = 0
                self.restoring.add(tp)
                consumer.seek(tp, 0)
            else:  # kept: go on from where this worker and the group both were (everything if the broker lost
                # the group's offsets, e.g. one that came back empty): what is read again is ignored as seen
                self.reached[tp] = min(self.reached.get(tp, 0), self.committed[tp])
                consumer.seek(tp, self.reached[tp])
        self.assigned_once = True
        log.info("points partitions assigned", extra={
            "group": self.group_id, "partitions": sorted(f"{tp.topic}/{tp.partition}" for tp in self.owned),
            "restoring": len(self.restoring)})


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, member: GroupMember) -> None:
        self.member = member

    async def on_partitions_revoked(self, revoked) -> None:
        await self.member.commit()  # what was handled: the next owner starts there

    async def on_partitions_assigned(self, assigned) -> None:
        await self.member.assigned(set(assigned))

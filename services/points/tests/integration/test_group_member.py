"""A stage's membership of its consumer group, against a real broker: an assignment positions every partition
before anything is fetched, however slowly the broker answers meanwhile."""

import asyncio
import uuid
from collections import defaultdict

import pytest
from agora_common.kafka import EventPublisher, ensure_topics
from agora_points import metrics
from agora_points.adapters import group_member
from agora_points.adapters.group_member import Batch, GroupMember
from agora_testing.waiting import eventually
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError

pytestmark = pytest.mark.servers("kafka")


class Recording:
    """A stateless stage that notes every offset it is handed."""

    stateful = False

    def __init__(self) -> None:
        self.offsets: dict[int, set[int]] = defaultdict(set)

    def assign(self, partitions, partition_count, reached) -> dict:
        return {}

    async def handle(self, batches: dict[TopicPartition, Batch]) -> None:
        for tp, batch in batches.items():
            self.offsets[tp.partition].update(r.offset for r in batch.records)

    async def restored(self, partition: TopicPartition) -> None:
        return None


async def _topic_with_records(bootstrap: str, *, partitions: int, records: int) -> str:
    """A new topic with `records` small records spread evenly over its partitions (record i in partition i % n)."""
    topic = f"t{uuid.uuid4().hex[:10]}"
    await ensure_topics(bootstrap, [topic], partitions=partitions)
    producer = await (publisher := EventPublisher(bootstrap)).ensure_started()
    try:
        for i in range(records):
            await producer.send(topic, b"%d" % i, partition=i % partitions)
        await producer.flush()
    finally:
        await publisher.stop()
    return topic


async def test_an_assignment_on_a_slow_broker_loses_no_record(kafka_bootstrap, monkeypatch):
    """Each committed-offset read takes 300 ms (a loaded broker): had a partition been positioned before the reads
    of the others were done, the fetch loop would have handed over its records while the assignment was not yet
    in place, and they would have been dropped unread (the points workers that never became ready in CI)."""
    topic = await _topic_with_records(kafka_bootstrap, partitions=4, records=400)
    read_committed = AIOKafkaConsumer.committed

    async def slow_committed(self, partition):
        await asyncio.sleep(0.3)
        return await read_committed(self, partition)

    monkeypatch.setattr(AIOKafkaConsumer, "committed", slow_committed)
    stage = Recording()
    member = GroupMember(kafka_bootstrap, group_id=f"{topic}-group", topics=[topic], stage=stage, batch_max=50)
    running = asyncio.create_task(member.run())
    try:
        async def all_handled():
            assert not running.done()
            assert member.caught_up
            assert {p: len(offsets) for p, offsets in stage.offsets.items()} == dict.fromkeys(range(4), 100)

        await eventually(all_handled, timeout=60)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_an_assignment_that_fails_stops_the_stage_instead_of_leaving_it_idle(kafka_bootstrap, monkeypatch):
    """A failure while taking an assignment up must stop the stage, so that the worker says it is not live and is
    restarted: had it been raised in the broker client's rebalance callback, aiokafka would only have logged it, and
    the stage would have held no partition and never caught up, silently."""
    topic = f"t{uuid.uuid4().hex[:10]}"
    await ensure_topics(kafka_bootstrap, [topic], partitions=2)

    async def broken(self, partition):
        raise KafkaConnectionError("the coordinator went away")

    monkeypatch.setattr(AIOKafkaConsumer, "committed", broken)
    member = GroupMember(kafka_bootstrap, group_id=f"{topic}-group", topics=[topic], stage=Recording(), batch_max=50)
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(member.run(), timeout=60)
    assert not member.caught_up


async def test_a_restore_longer_than_the_session_timeout_keeps_the_members_in_their_group(kafka_bootstrap,
                                                                                         monkeypatch):
    """Taking an assignment up may take longer than the group's session timeout (snapshot loads of a large state).
    aiokafka sends no heartbeat while its rebalance callback runs, so work done there had the broker drop the member
    and its rejoin start the next rebalance (the bench's second worker, seen in its log). With the work in the
    stage's own loop, a second member joining makes one rebalance, whose assignment each member takes up once."""
    monkeypatch.setattr(group_member, "CONSUMER_TIMEOUTS",
                        {"session_timeout_ms": 3_000, "heartbeat_interval_ms": 300, "rebalance_timeout_ms": 3_000})
    topic = await _topic_with_records(kafka_bootstrap, partitions=4, records=40)
    read_committed = AIOKafkaConsumer.committed
    slow = False

    async def committed(self, partition):  # once slow: two session timeouts, the time a large restore takes
        if slow:
            await asyncio.sleep(6)
        return await read_committed(self, partition)

    monkeypatch.setattr(AIOKafkaConsumer, "committed", committed)
    stages = [Recording(), Recording()]
    members = [GroupMember(kafka_bootstrap, group_id=f"{topic}-group", topics=[topic], stage=stage, batch_max=50)
               for stage in stages]
    running = [asyncio.create_task(members[0].run())]
    try:
        async def caught_up(member):
            assert not any(task.done() for task in running)
            assert member.caught_up

        await eventually(lambda: caught_up(members[0]), timeout=60)
        slow = True
        running.append(asyncio.create_task(members[1].run()))
        await eventually(lambda: caught_up(members[1]), timeout=60)
        await asyncio.sleep(7)  # past two more session timeouts: a member dropped by the broker rejoins meanwhile
        assert [m.generation for m in members] == [2, 1]  # the first's own, then the one the second's join made
        assert sorted(p for m in members for p in m.owned) == [TopicPartition(topic, p) for p in range(4)]
        assert all(m.owned for m in members)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def test_each_batch_says_how_long_it_waited_and_how_long_its_stage_took(kafka_bootstrap):
    """The stage metrics the bench reads to tell which hop a slow publish -> visible is in: a record written two
    seconds before the stage starts counts at least that long as waiting, and a stage that takes 0.2 s per batch
    counts that as handling."""
    topic = f"t{uuid.uuid4().hex[:10]}"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    producer = await (publisher := EventPublisher(kafka_bootstrap)).ensure_started()
    try:
        await producer.send_and_wait(topic, b"0", partition=0)
    finally:
        await publisher.stop()
    await asyncio.sleep(2.0)

    class Slow(Recording):
        async def handle(self, batches):
            await asyncio.sleep(0.2)
            await super().handle(batches)

    name = f"stage-{topic}"
    stage = Slow()
    member = GroupMember(kafka_bootstrap, group_id=f"{topic}-group", topics=[topic], stage=stage, batch_max=50,
                         name=name)
    running = asyncio.create_task(member.run())
    try:
        async def handled():
            assert stage.offsets == {0: {0}}

        await eventually(handled, timeout=60)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    wait = _histogram(metrics.STAGE_WAIT, name)
    handle = _histogram(metrics.STAGE_HANDLE, name)
    assert wait["count"] == handle["count"] == 1
    assert wait["sum"] >= 2.0
    assert 0.2 <= handle["sum"] < 2.0


def _histogram(histogram, stage: str) -> dict[str, float]:
    samples = {s.name.rsplit("_", 1)[-1]: s.value for family in histogram.collect() for s in family.samples
               if s.labels.get("stage") == stage}
    return {"count": samples.get("count", 0.0), "sum": samples.get("sum", 0.0)}

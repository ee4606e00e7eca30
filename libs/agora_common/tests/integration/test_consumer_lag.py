"""The broker-side consumer lag (agora_common.consumer_lag), which AgoraKafkaConsumerLagHigh reads, against the real
broker: a consumer commits part of a topic and dies; the lag of its group is reported exactly, and keeps growing
(in messages, and in how long the oldest waiting event has waited) while more is produced and nobody consumes."""

import asyncio
import uuid

import pytest
from agora_common.consumer_lag import ConsumerLagMonitor
from agora_common.events import Envelope
from agora_common.events.users import UserRegistered
from agora_common.ids import utcnow
from agora_common.kafka import EventConsumer, EventPublisher, ensure_topics
from agora_common.topics import Topics
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY

pytestmark = pytest.mark.servers("kafka")

PARTITIONS = 3


async def _until(check, timeout: float = 30.0, what: str = "condition") -> None:
    for _ in range(int(timeout * 20)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not reached")


async def _publish(bootstrap: str, topic: str, n: int) -> None:
    """n events on many keys, sent together: the producer puts several in one batch (the case where the embedded
    broker's ListOffsets answers short of the partition's end)."""
    publisher = EventPublisher(bootstrap)
    try:
        envelopes = [Envelope.wrap(UserRegistered(user_id=f"u{uuid.uuid4().hex[:8]}", display_name="U",
                                                  registered_at=utcnow()), subject=f"s{i}", version=1)
                     for i in range(n)]
        assert all(await publisher.publish_many(topic, envelopes))
    finally:
        await publisher.stop()


def _gauge(name: str, group: str, topic: str) -> list[float | None]:
    return [REGISTRY.get_sample_value(name, {"group": group, "topic": topic, "partition": str(p)})
            for p in range(PARTITIONS)]


def _messages(group: str, topic: str) -> float | None:
    values = _gauge("agora_consumer_lag_messages", group, topic)
    return None if None in values else sum(v for v in values if v is not None)


def _oldest(group: str, topic: str) -> float:
    return max((v or 0.0) for v in _gauge("agora_consumer_lag_seconds", group, topic))


async def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return {p: await consumer.committed(TopicPartition(topic, p)) or 0 for p in range(PARTITIONS)}
    finally:
        await consumer.stop()


async def test_the_lag_of_a_dead_consumer_is_reported_and_keeps_growing(agora_env):
    bootstrap, topics = agora_env["kafka_bootstrap"], Topics(agora_env["topic_prefix"])
    await ensure_topics(bootstrap, topics.all(), partitions=PARTITIONS)
    topic, group = topics.users, f"{topics.prefix}test.lag"
    await _publish(bootstrap, topic, 30)

    handled: list[Envelope] = []

    async def handle(envelopes: list[Envelope]) -> None:
        if handled:  # the second batch fails: the consumer stops without committing it, as after a crash
            raise RuntimeError("handler failed")
        handled.extend(envelopes)

    consumer = EventConsumer(kafka=bootstrap, topics=[topic], group_id=group, dead_letter_topic=topics.dead_letter,
                             batch_handler=handle)
    await consumer.start()
    await _until(lambda: not consumer.running, what="the consumer's failure")
    await consumer.stop()
    committed = await _committed(bootstrap, group, topic)
    assert 0 < len(handled) < 30 and sum(committed.values()) == len(handled)  # it committed part of the topic

    monitor = ConsumerLagMonitor(bootstrap, interval=0.2)
    monitor.watch(group, [topic])
    monitor.start()
    try:
        behind = 30 - len(handled)
        await _until(lambda: _messages(group, topic) == behind, what=f"a lag of {behind}")
        assert _oldest(group, topic) > 0
        first_age = _oldest(group, topic)

        # nobody consumes: more events make the lag grow, and the oldest waiting event keeps ageing
        await _publish(bootstrap, topic, 12)
        await _until(lambda: _messages(group, topic) == behind + 12, what=f"a lag of {behind + 12}")
        await asyncio.sleep(0.5)
        assert _oldest(group, topic) > first_age

        # one round, as the gauges show it: per partition, committed offset + lag = the partition's end
        lags = {lag.partition: lag for lag in await monitor.measure()}
        ends = await _ends(bootstrap, topic)
        assert {p: committed[p] + lags[p].messages for p in range(PARTITIONS)} == ends
        assert sum(ends.values()) == 42
        # and the age of the oldest waiting event, on every partition the group is behind on
        assert all(lag.seconds is not None and lag.seconds > 0 for lag in lags.values() if lag.messages)
    finally:
        await monitor.stop()


async def test_a_group_that_never_committed_is_behind_by_the_whole_log_and_caught_up_at_zero(agora_env):
    bootstrap, topics = agora_env["kafka_bootstrap"], Topics(agora_env["topic_prefix"])
    await ensure_topics(bootstrap, topics.all(), partitions=PARTITIONS)
    topic, group = topics.users, f"{topics.prefix}test.never"
    await _publish(bootstrap, topic, 20)
    monitor = ConsumerLagMonitor(bootstrap)
    monitor.watch(group, [topic])
    try:
        # a consumer that starts from the earliest offset has all of it to read
        assert sum(lag.messages for lag in await monitor.measure()) == 20
        assert _messages(group, topic) == 20

        ends = await _ends(bootstrap, topic)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, p) for p in ends])
            await consumer.commit({TopicPartition(topic, p): end for p, end in ends.items()})
        finally:
            await consumer.stop()
        lags = await monitor.measure()
        assert [(lag.messages, lag.seconds) for lag in lags] == [(0, 0.0)] * PARTITIONS
    finally:
        await monitor.stop()


async def _ends(bootstrap: str, topic: str) -> dict[int, int]:
    """Each partition's end by reading it to the end (the high watermark of fetch responses), not ListOffsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        reached = dict.fromkeys(tps, 0)
        for _ in range(100):
            for tp, records in (await consumer.getmany(timeout_ms=100)).items():
                reached[tp] = records[-1].offset + 1
            if all(consumer.highwater(tp) is not None and reached[tp] >= consumer.highwater(tp) for tp in tps):
                break
        return {tp.partition: reached[tp] for tp in tps}
    finally:
        await consumer.stop()


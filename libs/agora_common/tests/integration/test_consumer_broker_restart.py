"""The shared consumer against a broker that comes back empty (the embedded one keeps nothing on disk): the new
partitions start again at offset 0, behind the consumer's position. Kafka would answer a fetch there with "offset
out of range" and the reset policy would reread the log; the embedded broker answers with nothing, so the consumer
itself must notice that the log was lost (`LostLogs`) and read it again. The outage tests rely on this."""

import asyncio
from datetime import UTC, datetime

import pytest
from agora_common.events import Envelope
from agora_common.events.users import UserRegistered
from agora_common.kafka import EventConsumer, EventPublisher, LostLogs, ensure_topics, kafka_connection
from agora_common.topics import Topics
from agora_devservers import free_port, start_kafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

pytestmark = pytest.mark.timeout(180)


def _event(i: int) -> Envelope:
    return Envelope.wrap(UserRegistered(user_id=f"u{i}", display_name=f"U{i}", registered_at=datetime.now(UTC)),
                         subject=f"u{i % 3}", version=i + 1)


async def _wait_for(handled: list, count: int, timeout: float = 60) -> None:
    for _ in range(int(timeout * 10)):
        if len({e.id for e in handled}) >= count:
            return
        await asyncio.sleep(0.1)


async def test_consumer_rereads_partitions_of_a_broker_that_came_back_empty(tmp_path, unique_name):
    port = free_port()
    broker = start_kafka(port=port, log_dir=tmp_path)
    topics = Topics(f"{unique_name}.")
    handled: list[Envelope] = []

    async def handler(envelope: Envelope) -> None:
        handled.append(envelope)

    consumer = EventConsumer(kafka=broker.url, topics=[topics.users], group_id="restart-test",
                             dead_letter_topic=topics.dead_letter, handler=handler)
    try:
        await ensure_topics(broker.url, topics.all())
        publisher = EventPublisher(broker.url)
        await publisher.publish_many(topics.users, [_event(i) for i in range(30)])
        await publisher.stop()
        await consumer.start()
        await _wait_for(handled, 30)
        assert len({e.id for e in handled}) == 30

        broker.proc.kill()
        broker.proc.wait()
        broker = start_kafka(port=port, log_dir=tmp_path)  # empty: offsets start at 0 again
        await ensure_topics(broker.url, topics.all())
        after = [_event(i) for i in range(30, 36)]
        publisher = EventPublisher(broker.url)
        await publisher.publish_many(topics.users, after)
        await publisher.stop()

        await _wait_for(handled, 36)
        assert {e.id for e in after} <= {e.id for e in handled}
    finally:
        await consumer.stop()
        broker.stop()


async def test_a_new_log_that_has_already_grown_to_the_old_position_is_found_lost(tmp_path, unique_name):
    """A partition read to offset 1 before the broker came back empty, whose new log has one record again by the
    time the consumer looks: it does not end before the position, so only the changed cluster id tells that the
    record at offset 0 is new. The points stages met this in a CI run: the commit of a rebalance's
    revoke, retried while the broker was down, put the old offsets into the new broker, and the stage resumed
    from them (a consumer given no committed offset reads from the start anyway)."""
    port = free_port()
    broker = start_kafka(port=port, log_dir=tmp_path)
    topic = f"{unique_name}.users"
    partition = TopicPartition(topic, 0)
    await ensure_topics(broker.url, [topic], partitions=1)
    publisher = EventPublisher(broker.url)
    await publisher.publish_many(topic, [_event(0)])
    await publisher.stop()
    consumer = AIOKafkaConsumer(**kafka_connection(broker.url).client_options(), enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    lost = LostLogs(consumer, check_every=0)
    try:
        consumer.assign([partition])
        assert len((await consumer.getmany(timeout_ms=5_000)).get(partition, [])) == 1
        assert await lost.find() == []

        broker.proc.kill()
        broker.proc.wait()
        broker = start_kafka(port=port, log_dir=tmp_path)
        again = _event(3)
        producer = AIOKafkaProducer(**kafka_connection(broker.url).client_options())
        await producer.start()
        try:  # to partition 0 whatever the count (the consumer's metadata requests may have created the topic)
            await producer.send_and_wait(topic, again.to_bytes(), partition=0)  # its log ends at 1 again
        finally:
            await producer.stop()

        found: list[TopicPartition] = []
        for _ in range(100):  # until the consumer has reconnected
            await consumer.getmany(timeout_ms=100)
            if found := await lost.find():
                break
        assert found == [partition]
        consumer.seek(partition, 0)
        records = (await consumer.getmany(timeout_ms=5_000)).get(partition, [])
        assert [Envelope.from_bytes(r.value).id for r in records] == [again.id]
    finally:
        await consumer.stop()
        broker.stop()


async def test_a_new_cluster_seen_while_nothing_is_assigned_is_still_told_once_partitions_are(tmp_path, unique_name):
    """A rebalance under way when the broker comes back empty: the consumer holds no partition when it first
    reaches the new broker, and is then given its partition back at an offset of the old log (committed to the
    new broker by a commit retried meanwhile), which the new log has already reached. The change must still be
    told then: a check that spent it while nothing was assigned would leave the new log's first record unread."""
    port = free_port()
    broker = start_kafka(port=port, log_dir=tmp_path)
    topic = f"{unique_name}.users"
    partition = TopicPartition(topic, 0)
    await ensure_topics(broker.url, [topic], partitions=1)
    publisher = EventPublisher(broker.url)
    await publisher.publish_many(topic, [_event(0)])
    await publisher.stop()
    consumer = AIOKafkaConsumer(**kafka_connection(broker.url).client_options(), enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    lost = LostLogs(consumer, check_every=0)
    try:
        consumer.assign([partition])
        assert len((await consumer.getmany(timeout_ms=5_000)).get(partition, [])) == 1
        assert await lost.find() == []  # the old broker's id, seen

        broker.proc.kill()
        broker.proc.wait()
        broker = start_kafka(port=port, log_dir=tmp_path)
        consumer.assign([])  # amid a rebalance
        for _ in range(30):  # long enough for the consumer to reach the new broker
            await consumer.getmany(timeout_ms=100)
            assert await lost.find() == []
        again = _event(3)
        producer = AIOKafkaProducer(**kafka_connection(broker.url).client_options())
        await producer.start()
        try:
            await producer.send_and_wait(topic, again.to_bytes(), partition=0)  # the new log ends at 1
        finally:
            await producer.stop()

        consumer.assign([partition])
        consumer.seek(partition, 1)  # the old log's offset, as committed to the new broker
        found: list[TopicPartition] = []
        for _ in range(50):
            await consumer.getmany(timeout_ms=100)
            if found := await lost.find():
                break
        assert found == [partition]
    finally:
        await consumer.stop()
        broker.stop()


async def test_consumer_rereads_a_log_that_ends_before_its_committed_offset(kafka_bootstrap, unique_name):
    """The other face of a lost log: offsets read from the OLD log were committed to the new broker (a commit in
    flight when it went down lands once it is back), so the group resumes past the new log's end. The consumer
    must read the new log from its start instead of waiting for it to grow past the stale offset."""
    topics = Topics(f"{unique_name}.")
    await ensure_topics(kafka_bootstrap, topics.all())
    events = [_event(i) for i in range(6)]
    publisher = EventPublisher(kafka_bootstrap)
    await publisher.publish_many(topics.users, events)
    await publisher.stop()
    stale = AIOKafkaConsumer(**kafka_connection(kafka_bootstrap).client_options(), group_id="stale-offsets",
                             enable_auto_commit=False)
    await stale.start()
    try:
        partitions = [TopicPartition(topics.users, p) for p in range(3)]
        stale.assign(partitions)
        await stale.commit(dict.fromkeys(partitions, 50))
    finally:
        await stale.stop()
    handled: list[Envelope] = []

    async def handler(envelope: Envelope) -> None:
        handled.append(envelope)

    consumer = EventConsumer(kafka=kafka_bootstrap, topics=[topics.users], group_id="stale-offsets",
                             dead_letter_topic=topics.dead_letter, handler=handler)
    await consumer.start()
    try:
        await _wait_for(handled, len(events), timeout=30)
        assert {e.id for e in handled} == {e.id for e in events}
    finally:
        await consumer.stop()

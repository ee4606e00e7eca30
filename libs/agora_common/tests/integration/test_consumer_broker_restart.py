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


class _OneRecordRead:
    """A broker of its own whose topic has one record in partition 0, and a consumer that has read it (its
    LostLogs has seen the broker's cluster id): the scene the tests below restart the broker under."""

    def __init__(self, tmp_path, unique_name: str) -> None:
        self.tmp_path = tmp_path
        self.port = free_port()
        self.topic = f"{unique_name}.users"
        self.partition = TopicPartition(self.topic, 0)

    async def __aenter__(self) -> "_OneRecordRead":
        self.broker = start_kafka(port=self.port, log_dir=self.tmp_path)
        await ensure_topics(self.broker.url, [self.topic], partitions=1)
        publisher = EventPublisher(self.broker.url)
        await publisher.publish_many(self.topic, [_event(0)])
        await publisher.stop()
        self.consumer = AIOKafkaConsumer(**kafka_connection(self.broker.url).client_options(),
                                         enable_auto_commit=False, auto_offset_reset="earliest")
        await self.consumer.start()
        self.lost = LostLogs(self.consumer, check_every=0)
        self.consumer.assign([self.partition])
        assert len((await self.consumer.getmany(timeout_ms=5_000)).get(self.partition, [])) == 1
        assert await self.lost.find() == []  # the old broker's id, seen
        return self

    async def __aexit__(self, *exc) -> None:
        await self.consumer.stop()
        self.broker.stop()

    def restart_empty(self) -> None:
        self.broker.proc.kill()
        self.broker.proc.wait()
        self.broker = start_kafka(port=self.port, log_dir=self.tmp_path)

    async def write_again(self, envelope: Envelope) -> None:
        """The topic made again (as its owner would) with one record: the new log ends at 1, where the old one
        was read to."""
        await ensure_topics(self.broker.url, [self.topic], partitions=1)
        producer = AIOKafkaProducer(**kafka_connection(self.broker.url).client_options())
        await producer.start()
        try:
            await producer.send_and_wait(self.topic, envelope.to_bytes(), partition=0)
        finally:
            await producer.stop()

    async def found_lost(self, tries: int) -> list[TopicPartition]:
        """What LostLogs finds, asked after each short fetch until it finds something (the consumer reconnects)."""
        for _ in range(tries):
            await self.consumer.getmany(timeout_ms=100)
            if found := await self.lost.find():
                return found
        return []


async def test_a_new_log_that_has_already_grown_to_the_old_position_is_found_lost(tmp_path, unique_name):
    """A partition read to offset 1 before the broker came back empty, whose new log has one record again by the
    time the consumer looks: it does not end before the position, so only the changed cluster id tells that the
    record at offset 0 is new. The points stages met this in a CI run: the commit of a rebalance's
    revoke, retried while the broker was down, put the old offsets into the new broker, and the stage resumed
    from them (a consumer given no committed offset reads from the start anyway)."""
    async with _OneRecordRead(tmp_path, unique_name) as scene:
        scene.restart_empty()
        again = _event(3)
        await scene.write_again(again)

        assert await scene.found_lost(tries=100) == [scene.partition]
        scene.consumer.seek(scene.partition, 0)
        records = (await scene.consumer.getmany(timeout_ms=5_000)).get(scene.partition, [])
        assert [Envelope.from_bytes(r.value).id for r in records] == [again.id]


async def test_a_new_cluster_seen_while_nothing_is_assigned_is_still_told_once_partitions_are(tmp_path, unique_name):
    """A rebalance under way when the broker comes back empty: the consumer holds no partition when it first
    reaches the new broker, and is then given its partition back at an offset of the old log (committed to the
    new broker by a commit retried meanwhile), which the new log has already reached. The change must still be
    told then: a check that spent it while nothing was assigned would leave the new log's first record unread."""
    async with _OneRecordRead(tmp_path, unique_name) as scene:
        scene.restart_empty()
        scene.consumer.assign([])  # amid a rebalance
        for _ in range(30):  # long enough for the consumer to reach the new broker
            await scene.consumer.getmany(timeout_ms=100)
            assert await scene.lost.find() == []
        await scene.write_again(_event(3))

        scene.consumer.assign([scene.partition])
        scene.consumer.seek(scene.partition, 1)  # the old log's offset, as committed to the new broker
        assert await scene.found_lost(tries=50) == [scene.partition]


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

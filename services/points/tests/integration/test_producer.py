"""A stage's sends against a broker that comes back empty (the embedded one keeps nothing on disk)."""

import pytest
from agora_common.kafka import EventPublisher, ensure_topics
from agora_devservers import free_port, start_kafka
from agora_points.adapters.log_reader import read_log
from agora_points.adapters.wire import decode_batch
from agora_points.service.stages import Producer

pytestmark = pytest.mark.timeout(120)


async def test_a_send_after_the_broker_came_back_empty_lands_in_a_topic_made_again_with_its_partitions(
        tmp_path, unique_name):
    """The producer's metadata still lists the topic the broker lost; the embedded broker acknowledges a write to
    it and keeps nothing readable (Kafka would refuse it). So once its producer reconnected, the stage must look
    whether the topic is there, make it again with the partition count its keyed state was built on and send
    again: the record must be there to read afterwards (the empty-broker e2e test lost a vote's points this way,
    now and then)."""
    port = free_port()
    broker = start_kafka(port=port, log_dir=tmp_path)
    topic = f"{unique_name}.facts"
    made: list[int] = []

    async def create_topics() -> None:
        made.append(1)
        await ensure_topics(broker.url, [topic], partitions=6)

    publisher = EventPublisher(broker.url)
    producer = Producer(publisher, create_topics=create_topics)
    try:
        await create_topics()
        await producer.send_all(topic, [(b"root-1", ["before"])])
        broker.proc.kill()
        broker.proc.wait()
        broker = start_kafka(port=port, log_dir=tmp_path)

        await producer.send_all(topic, [(b"root-1", ["after"])])

        assert len(made) == 2  # at start, and once the topic was found gone
        read = [decode_batch(r.value) async for records, _ in read_log(broker.url, [topic]) for r in records]
        # there, maybe twice (the embedded broker shows the write it acknowledged once the topic exists again):
        # a repeat the next stage ignores
        assert read and all(batch == [["after"]] for batch in read)
        assert len(await (await publisher.ensure_started()).partitions_for(topic)) == 6
    finally:
        await publisher.stop()
        broker.stop()

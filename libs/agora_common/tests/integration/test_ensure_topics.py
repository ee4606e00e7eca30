"""Topic creation against a real broker."""

import asyncio

import pytest
from agora_common.kafka import EventPublisher, ensure_topics, kafka_connection
from agora_common.topics import Topics
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

pytestmark = pytest.mark.servers("kafka")


async def test_names_given_twice_are_created_once_and_reported_missing_once(kafka_bootstrap, unique_name):
    bootstrap = kafka_bootstrap
    topics = Topics(f"{unique_name}.")
    names = [topics.users, topics.content, topics.users]  # the relay passes its batch's topics and its own list
    publisher = EventPublisher(bootstrap)
    try:
        assert await publisher.missing_topics(names) == [topics.users, topics.content]
        await ensure_topics(bootstrap, names, partitions=2)
        assert await publisher.missing_topics(names) == []
        await ensure_topics(bootstrap, names, partitions=2)  # again: nothing to do, no error
    finally:
        await publisher.stop()


async def test_a_service_that_does_not_create_topics_waits_for_them(kafka_bootstrap, unique_name):
    """Production: the setup job makes the topics (replication, retention); the services only wait for them."""
    from agora_common.kafka import TopicsMissing

    bootstrap = kafka_bootstrap
    topics = Topics(f"{unique_name}.")
    publisher = EventPublisher(bootstrap)
    try:
        with pytest.raises(TopicsMissing, match=topics.events):
            await ensure_topics(bootstrap, [topics.events], create=False)
        assert await publisher.missing_topics([topics.events]) == [topics.events]  # nothing was created
        await ensure_topics(bootstrap, [topics.events])  # the setup job's turn
        await ensure_topics(bootstrap, [topics.events], create=False)  # now it passes
    finally:
        await publisher.stop()


async def test_clients_looking_up_a_missing_topic_do_not_have_the_broker_create_it(kafka_bootstrap, unique_name):
    """A broker that allows it creates a topic a metadata request names, with its own default partition count
    (the embedded one: 4): after a broker came back empty, the points stages' own topics reappeared with 4
    partitions under state keyed for 3 or 6, and a producer's send to partition 5 was acknowledged and lost.
    Only ensure_topics creates topics: a subscribed consumer and a producer asking for one leave it missing."""
    topics = Topics(f"{unique_name}.")
    options = kafka_connection(kafka_bootstrap).client_options()
    consumer = AIOKafkaConsumer(**options, group_id=unique_name, metadata_max_age_ms=100)
    producer = AIOKafkaProducer(**options, request_timeout_ms=2_000)
    publisher = EventPublisher(kafka_bootstrap)
    await consumer.start()
    await producer.start()
    try:
        consumer.subscribe([topics.content])  # as the services' consumers do, once started
        for _ in range(10):  # the consumer asks for its topic's metadata every 100 ms meanwhile
            await consumer.getmany(timeout_ms=100)
        with pytest.raises(KafkaError):
            await producer.send_and_wait(topics.content, b"x")
        await asyncio.sleep(0.2)
        assert await publisher.missing_topics([topics.content]) == [topics.content]
        await ensure_topics(kafka_bootstrap, [topics.content], partitions=2)
        assert await publisher.missing_topics([topics.content]) == []
        assert len(await producer.partitions_for(topics.content)) == 2
    finally:
        await consumer.stop()
        await producer.stop()
        await publisher.stop()

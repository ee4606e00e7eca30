"""Topic creation against a real broker."""

import pytest
from agora_common.kafka import EventPublisher, ensure_topics
from agora_common.topics import Topics

pytestmark = pytest.mark.servers("kafka")


async def test_names_given_twice_are_created_once_and_reported_missing_once(agora_env):
    bootstrap = agora_env["kafka_bootstrap"]
    topics = Topics(agora_env["topic_prefix"])
    names = [topics.users, topics.content, topics.users]  # the relay passes its batch's topics and its own list
    publisher = EventPublisher(bootstrap)
    try:
        assert await publisher.missing_topics(names) == [topics.users, topics.content]
        await ensure_topics(bootstrap, names, partitions=2)
        assert await publisher.missing_topics(names) == []
        await ensure_topics(bootstrap, names, partitions=2)  # again: nothing to do, no error
    finally:
        await publisher.stop()

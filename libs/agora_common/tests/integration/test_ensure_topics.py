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


async def test_a_service_that_does_not_create_topics_waits_for_them(agora_env):
    """Production: the setup job makes the topics (replication, retention); the services only wait for them."""
    from agora_common.kafka import TopicsMissing

    bootstrap = agora_env["kafka_bootstrap"]
    topics = Topics(agora_env["topic_prefix"])
    publisher = EventPublisher(bootstrap)
    try:
        with pytest.raises(TopicsMissing, match=topics.events):
            await ensure_topics(bootstrap, [topics.events], create=False)
        assert await publisher.missing_topics([topics.events]) == [topics.events]  # nothing was created
        await ensure_topics(bootstrap, [topics.events])  # the setup job's turn
        await ensure_topics(bootstrap, [topics.events], create=False)  # now it passes
    finally:
        await publisher.stop()

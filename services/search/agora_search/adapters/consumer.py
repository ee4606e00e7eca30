"""The shared EventConsumer, with a short fetch wait.

A broker that does not answer a fetch as soon as data arrives (the embedded Tansu waits out fetch_max_wait_ms)
would otherwise add up to 500 ms to every event's way to the index. Against Kafka, which answers fetches as soon
as data arrives, the shorter wait only means a few more empty fetches while the topic is idle.
"""

from agora_common.kafka import EventConsumer


def low_latency_consumer(*, fetch_max_wait_ms: int, **kwargs) -> EventConsumer:
    return EventConsumer(consumer_options={"fetch_max_wait_ms": fetch_max_wait_ms}, **kwargs)

"""Reads the domain topics from the beginning up to their current end, in batches (no consumer group).

Used for the start-up catch-up, for replay checks and what-if scoring: the event log is the source of truth.
"""

import logging
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

log = logging.getLogger(__name__)


async def read_log(
    bootstrap: str, topics: list[str], *, batch: int = 20_000, group_id: str | None = None,
    commit_end: bool = False,
) -> AsyncIterator[tuple[list[ConsumerRecord], dict[TopicPartition, int]]]:
    """Yield (records, committed offsets of group_id) until every partition reaches its end at call time.

    With commit_end, the end offsets are committed for group_id at the end (so a live consumer in that
    group starts where the catch-up stopped; anything read twice is a duplicate the engine ignores).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False,
        auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        partitions = []
        for topic in topics:
            for p in sorted(consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)):
                partitions.append(TopicPartition(topic, p))
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        committed = {}
        if group_id:
            for tp in partitions:
                committed[tp] = await consumer.committed(tp) or 0
        await consumer.seek_to_beginning(*partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            got = await consumer.getmany(*remaining, timeout_ms=200, max_records=batch)
            records = []
            for tp, recs in got.items():
                records.extend(r for r in recs if r.offset < ends[tp])
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if records:
                yield records, committed
        if commit_end and group_id:
            await consumer.commit({tp: end for tp, end in ends.items()})
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 - topics created just now
    return consumer.partitions_for_topic(topic) or set()

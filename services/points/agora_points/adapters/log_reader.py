"""Reads the domain topics from the beginning until caught up, in batches (manual assignment).

Used for the start-up catch-up, replay checks and what-if scoring: the event log is the source of truth.

"Caught up" is judged by the high watermark that fetch responses carry, and the offsets committed at the end
are exactly the ones read. Never ListOffsets/end_offsets(): the embedded broker (Tansu 0.6.0) answers it with a
value below the real end (apparently the base offset of the last batch), which would make a catch-up stop
early and, worse, commit past events it never read.
"""

import logging
import time
from collections.abc import AsyncIterator

from agora_common.kafka import Kafka, kafka_connection
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

log = logging.getLogger(__name__)


async def read_log(
    kafka: Kafka, topics: list[str], *, batch: int = 20_000, group_id: str | None = None,
    commit_end: bool = False, stall_timeout: float = 30.0, start_at: dict[tuple[str, int], int] | None = None,
) -> AsyncIterator[tuple[list[ConsumerRecord], dict[TopicPartition, int]]]:
    """Yield (records, offsets committed for group_id before the read) until every partition is caught up.

    start_at: where to start per (topic, partition) (a snapshot's offsets); other partitions from the beginning.
    With commit_end, the offsets reached are committed for group_id at the end, so a live consumer of that
    group resumes exactly there (anything it then reads twice is a duplicate the engine ignores).
    """
    consumer = AIOKafkaConsumer(
        **kafka_connection(kafka).client_options(), group_id=group_id, enable_auto_commit=False,
        auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        partitions = []
        for topic in topics:
            for p in sorted(consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)):
                partitions.append(TopicPartition(topic, p))
        consumer.assign(partitions)
        committed = {}
        if group_id:
            for tp in partitions:
                committed[tp] = await consumer.committed(tp) or 0
        await consumer.seek_to_beginning(*partitions)
        reached: dict[TopicPartition, int] = {}
        for tp in partitions:
            if start_at and start_at.get((tp.topic, tp.partition)):
                reached[tp] = start_at[(tp.topic, tp.partition)]
                consumer.seek(tp, reached[tp])
        remaining = set(partitions)
        progress = time.monotonic()
        while remaining:
            got = await consumer.getmany(*remaining, timeout_ms=200, max_records=batch)
            records = []
            for tp, recs in got.items():
                if recs:
                    records.extend(recs)
                    reached[tp] = recs[-1].offset + 1
            for tp in list(remaining):
                highwater = consumer.highwater(tp)  # from the latest fetch response: None until one came
                if highwater is not None and reached.get(tp, 0) >= highwater:
                    remaining.discard(tp)
            if records:
                progress = time.monotonic()
                yield records, committed
            elif time.monotonic() - progress > stall_timeout:
                raise TimeoutError(f"reading the log stalled for {stall_timeout:.0f}s (broker unreachable?)")
        if commit_end and group_id and reached:
            try:
                await consumer.commit(reached)
            except Exception as exc:  # noqa: BLE001
                # e.g. a killed member of the live group has not timed out yet: the live consumer then resumes
                # from its own older offsets and reads a stretch again (duplicates: ignored; dead letters of
                # that stretch may be sent twice, which is the dead-letter topic's at-least-once contract)
                log.warning("could not commit the catch-up offsets", extra={"group": group_id, "error": repr(exc)})
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # topics created just now
    return consumer.partitions_for_topic(topic) or set()

"""The alternative live path: a plain aiokafka consumer (manual assignment of every partition) that tails the
domain topics in getmany batches, for when the faust agent's per-message overhead is the bottleneck
(AGORA_POINTS_LIVE_CONSUMER=direct; see README "Performance"). Same processor, same idempotent engine.

It resumes at the offsets the start-up catch-up committed for the instance's group and commits what it has
applied about once a second (those offsets only decide what is dead-lettered after a restart: the state
itself is always rebuilt from the log).
"""

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from agora_points.service.processor import PointsProcessor, Raw

log = logging.getLogger(__name__)


async def tail(processor: PointsProcessor, *, batch_max: int, poll_ms: int = 5) -> None:
    consumer = AIOKafkaConsumer(
        **processor.kafka.client_options(), group_id=processor.group_id, enable_auto_commit=False,
        auto_offset_reset="earliest", fetch_max_wait_ms=poll_ms, max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    reached: dict[TopicPartition, int] = {}
    try:
        partitions = [TopicPartition(t, p) for t in processor.input_topics
                      for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, await consumer.committed(tp) or 0)
        last_commit = time.monotonic()
        committing: asyncio.Task | None = None
        while True:
            got = await consumer.getmany(timeout_ms=poll_ms * 20, max_records=batch_max)
            raws: list[Raw] = []
            for tp, records in got.items():
                raws.extend(Raw(r.value, r.key, r.topic, r.partition, r.offset) for r in records)
                reached[tp] = records[-1].offset + 1
            if raws:
                try:
                    await processor.handle(raws, live=True)
                except Exception as exc:  # see the faust agent: a restart repairs the state
                    log.exception("points batch failed; liveness fails until a restart")
                    processor.failure = f"{type(exc).__name__}: {exc}"[:300]
            if reached and time.monotonic() - last_commit > 1 and (committing is None or committing.done()):
                # in the background: a commit round trip must not hold up the next batch
                committing = asyncio.create_task(consumer.commit(dict(reached)))
                last_commit = time.monotonic()
    except asyncio.CancelledError:
        if reached:
            await asyncio.shield(consumer.commit(dict(reached)))
        raise
    finally:
        await consumer.stop()

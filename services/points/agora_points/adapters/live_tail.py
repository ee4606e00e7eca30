"""The live path: a plain aiokafka consumer (manual assignment of every partition) that tails the domain topics
in getmany batches and hands each batch to the processor. The one live path since issue 11: a faust-streaming
agent did the same at a quarter of the rate, its per-message stream machinery costing more than the scoring
(README "Performance").

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
            reached[tp] = await consumer.committed(tp) or 0
            consumer.seek(tp, reached[tp])
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
                except Exception as exc:  # the state may be half-updated: only a restart (a replay) repairs it
                    log.exception("points batch failed; liveness fails until a restart")
                    processor.failure = f"{type(exc).__name__}: {exc}"[:300]
            if time.monotonic() - last_commit > 1:
                _reread_shrunk_logs(consumer, reached)
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


def _reread_shrunk_logs(consumer: AIOKafkaConsumer, reached: dict[TopicPartition, int]) -> None:
    """A partition whose end is now before what we have read lost its log (a broker that came back empty, e.g. the
    in-memory one of `make run`): read it again from its start, or new events would wait until the new log
    outgrew the old position. Re-reading is safe: the engine admits each event once, by id."""
    for tp, position in list(reached.items()):
        end = consumer.highwater(tp)
        if end is not None and end < position:
            log.warning("partition %s ends at %d, before the %d read here: its log was lost; reading it again "
                        "from the start", tp, end, position)
            consumer.seek(tp, 0)
            reached[tp] = 0

"""Reads a topic from its beginning up to the end offsets seen when reading starts (the event log a reindex replays).

No consumer group: nothing is committed and the live indexer's group is untouched. Events that cannot be parsed
are skipped here: the live indexer has already dead-lettered them.
"""

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from agora_common.events import BadEvent, Envelope
from agora_common.kafka import Kafka, kafka_connection
from aiokafka import AIOKafkaConsumer, TopicPartition

log = logging.getLogger(__name__)

DRAIN_POLLS = 20


@dataclass
class LogBatch:
    envelopes: list[Envelope]
    read: int  # offsets read so far (valid events or not)
    total: int  # records in the log when reading started


async def read_log(kafka: Kafka, topic: str, *, batch_size: int = 1000) -> AsyncIterator[LogBatch]:
    consumer = AIOKafkaConsumer(**kafka_connection(kafka).client_options(), enable_auto_commit=False, group_id=None,
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        await consumer.topics()  # loads metadata
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            yield LogBatch([], 0, 0)
            return
        consumer.assign(tps)
        begin = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        done = dict(begin)

        def take(records: dict) -> list[Envelope]:
            # records past the snapshot are taken too: harmless (idempotent fold), and skipping them would lose
            # them for the drain below
            envelopes: list[Envelope] = []
            for tp, recs in records.items():
                for record in recs:
                    done[tp] = record.offset + 1
                    try:
                        envelope = Envelope.from_bytes(record.value)
                        envelope.payload()
                    except BadEvent:
                        continue
                    envelopes.append(envelope)
            return envelopes

        def batch(envelopes: list[Envelope]) -> LogBatch:
            read = sum(done[tp] - begin[tp] for tp in tps)  # by offsets: compacted logs have gaps
            return LogBatch(envelopes, read, max(read, sum(end[tp] - begin[tp] for tp in tps)))

        while any(done[tp] < end[tp] for tp in tps):
            records = await consumer.getmany(*[tp for tp in tps if done[tp] < end[tp]], timeout_ms=500,
                                             max_records=batch_size)
            yield batch(take(records))
        # Then read on to the tail: some brokers (the embedded Tansu) report end offsets a few records short.
        # Events past the snapshot are harmless (the fold is idempotent and the live indexer writes them too).
        for _ in range(DRAIN_POLLS):
            records = await consumer.getmany(*tps, timeout_ms=300, max_records=batch_size)
            if not records:
                break
            yield batch(take(records))
    finally:
        await consumer.stop()

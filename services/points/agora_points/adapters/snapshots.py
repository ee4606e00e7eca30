"""State snapshots of a stateful stage's partitions, in a topic of their own (`<stage group>-snapshots`, one
partition per partition of the stage's input), so that a restore loads the state as it was at an input offset and
reads the input only from there, instead of running the partition's whole history through the stage again.

A snapshot is a run of chunk records (the partition's keys and values as the state store holds them, encoded
as they are: no decoding on either side) and then a manifest record (the input offset the state had reached, the
engine's few values kept outside its maps, the offset of the first chunk). Only a snapshot whose manifest was
written counts: one cut short by a crash is never read. Every chunk also names the latest complete manifest
before it (`prev`), so the newest complete snapshot is found by reading only the partition's last records.

The input topics stay the truth: a snapshot that is missing, cut short or deleted by retention means the
partition is restored from its input's beginning, as without snapshots.
"""

import asyncio
import logging
import struct
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import orjson
from agora_common.kafka import EventPublisher, KafkaConnection
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

log = logging.getLogger(__name__)

_PAIR = struct.Struct(">II")
_CHUNK_BYTES = 512 * 1024  # well under a broker's default largest message (1 MiB)
_ID, _PREV = "snapshot", "prev"
_CHUNK, _MANIFEST = b"chunk", b"manifest"


def encode_chunk(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    out = bytearray()
    for key, value in pairs:
        out += _PAIR.pack(len(key), len(value))
        out += key
        out += value
    return bytes(out)


def decode_chunk(raw: bytes) -> Iterator[tuple[bytes, bytes]]:
    view, i = memoryview(raw), 0
    while i < len(raw):
        k, v = _PAIR.unpack_from(raw, i)
        i += _PAIR.size
        yield bytes(view[i:i + k]), bytes(view[i + k:i + k + v])
        i += k + v


@dataclass(frozen=True)
class Written:
    keys: int
    bytes: int


@dataclass(frozen=True)
class Loaded:
    """A snapshot loaded into the store: the input offset its state had reached, and the engine's own values."""

    input_offset: int
    meta: dict
    keys: int
    bytes: int


def _header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return value.decode()
    return None


class SnapshotLog:
    def __init__(self, kafka: KafkaConnection, publisher: EventPublisher, topic: str, *, layout: int,
                 yield_every: int = 2_000, share: float = 0.2) -> None:
        self.kafka = kafka
        self.layout = layout  # of the values (state_codec.LAYOUT): a snapshot of another one is not loaded
        self.publisher = publisher
        self.topic = topic
        self.yield_every = yield_every  # keys read between yields to the event loop while a snapshot is written
        # The writer's most of the worker's core: after each chunk it waits (1 - share) / share times as long as
        # the chunk took, so that snapshots never take the live path's time (measured: unthrottled, at 2,000
        # events/s the p99 publish -> visible went from ~300 ms to 1.2 s); they come less often instead.
        self.idle_per_busy = (1 - share) / share
        self.last_manifest: dict[int, int] = {}  # partition -> offset of the newest complete manifest known here

    async def write(self, partition: int, *, input_offset: int, meta: dict,
                    pairs: Iterator[tuple[bytes, bytes]]) -> Written:
        """Writes one snapshot (pairs: the partition's keys as the store exported them)."""
        producer = await self.publisher.ensure_started()
        snapshot_id = uuid.uuid4().hex
        headers = [(_ID, snapshot_id.encode()), (_PREV, str(self.last_manifest.get(partition, -1)).encode())]
        first: int | None = None
        keys, total, size = 0, 0, 0
        chunk: list[tuple[bytes, bytes]] = []
        pending = []

        async def flush() -> None:
            nonlocal first, chunk, size, total
            total += size
            future = await producer.send(self.topic, encode_chunk(chunk), key=_CHUNK, partition=partition,
                                         headers=headers)
            pending.append(future)
            if first is None:  # the first chunk's offset: the manifest says where the snapshot starts
                first = (await future).offset
            chunk, size = [], 0

        busy = time.perf_counter()
        for i, (key, value) in enumerate(pairs):
            chunk.append((key, value))
            size += len(key) + len(value) + _PAIR.size
            keys += 1
            if size >= _CHUNK_BYTES:
                spent = time.perf_counter() - busy
                await flush()
                await asyncio.sleep(spent * self.idle_per_busy)
                busy = time.perf_counter()
            elif i % self.yield_every == 0:
                await asyncio.sleep(0)  # the stage goes on meanwhile (the pairs come from a fixed view of the store)
        if chunk or first is None:
            await flush()
        await asyncio.gather(*pending)
        manifest = orjson.dumps({"id": snapshot_id, "layout": self.layout, "input_offset": input_offset,
                                 "first": first, "keys": keys, "bytes": total, "meta": meta})
        done = await (await producer.send(self.topic, manifest, key=_MANIFEST, partition=partition,
                                          headers=[(_ID, snapshot_id.encode())]))
        self.last_manifest[partition] = done.offset
        return Written(keys=keys, bytes=total)

    async def load_latest(self, partition: int, load: Callable[[Iterator[tuple[bytes, bytes]]], int]
                          ) -> Loaded | None:
        """Finds the partition's newest complete snapshot and hands its keys to `load` chunk by chunk. None: there
        is none, or its chunks are gone (the caller then clears whatever was loaded and restores from the start)."""
        consumer = AIOKafkaConsumer(
            **self.kafka.client_options(), enable_auto_commit=False, auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024, fetch_max_wait_ms=100)
        await consumer.start()
        try:
            tp = TopicPartition(self.topic, partition)
            if partition not in (consumer.partitions_for_topic(self.topic) or
                                 await _partitions(consumer, self.topic)):
                return None
            consumer.assign([tp])
            # end_offsets() may answer below the real end on the embedded broker (Tansu): read on to the high
            # watermark of the fetch responses from there
            end = (await consumer.end_offsets([tp]))[tp]
            manifest: ConsumerRecord | None = None
            prev = -1
            first_seen = True
            async for record in _read(consumer, tp, max(end - 1, 0)):
                if record.key == _MANIFEST:
                    manifest = record
                elif first_seen:
                    prev = int(_header(record, _PREV) or -1)
                first_seen = False
            if manifest is None and prev >= 0:
                async for record in _read(consumer, tp, prev, until=prev + 1):
                    manifest = record if record.key == _MANIFEST else None  # else: a log that was lost and refilled
            if manifest is None:
                return None
            info = orjson.loads(manifest.value)
            if info.get("layout") != self.layout:
                log.warning("snapshot %s of %s/%d has layout %s, not %d: not used", info["id"], self.topic,
                            partition, info.get("layout"), self.layout)
                return None
            keys = 0
            expected = info["first"]
            async for record in _read(consumer, tp, info["first"], until=manifest.offset):
                if expected is not None and record.offset != expected:
                    log.warning("snapshot %s of %s/%d starts at %d, not %d (deleted by retention?): not used",
                                info["id"], self.topic, partition, record.offset, expected)
                    return None
                expected = None
                if _header(record, _ID) == info["id"]:
                    keys += load(decode_chunk(record.value))
            if expected is not None:
                return None
            self.last_manifest[partition] = manifest.offset
            return Loaded(input_offset=info["input_offset"], meta=info["meta"], keys=keys, bytes=info["bytes"])
        finally:
            await consumer.stop()


async def _read(consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, *, until: int | None = None,
                stall_timeout: float = 30.0):
    """The partition's records from `start` to `until` (or to the high watermark of the fetch responses)."""
    consumer.seek(tp, start)
    reached = start
    progress = time.monotonic()
    while True:
        got = await consumer.getmany(tp, timeout_ms=200)
        for record in got.get(tp, []):
            if until is not None and record.offset >= until:
                return
            reached = record.offset + 1
            yield record
        end = consumer.highwater(tp)
        if (until is not None and reached >= until) or (end is not None and reached >= end):
            return
        if got:
            progress = time.monotonic()
        elif time.monotonic() - progress > stall_timeout:
            raise TimeoutError(f"reading {tp.topic}/{tp.partition} stalled for {stall_timeout:.0f}s")


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # a topic created just now
    return consumer.partitions_for_topic(topic) or set()

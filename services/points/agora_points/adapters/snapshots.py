"""State snapshots of a stateful stage's partitions, in a topic of their own (`<stage group>-snapshots`, one
partition per partition of the stage's input), so that a restore loads the state as it was at an input offset and
reads the input only from there, instead of running the partition's whole history through the stage again.

A snapshot is a run of chunk records (the partition's keys and values as the state store holds them, encoded
as they are: no decoding on either side) and then a manifest record (the input offset the state had reached, the
engine's few values kept outside its maps, the offset of the first chunk). Only a snapshot whose manifest was
written counts: one cut short by a crash is never read. Every chunk also names the latest complete manifest
before it (`prev`), so the newest complete snapshot is found by reading only the partition's last records.

A snapshot is whole, or holds only the keys changed since an earlier one (its `base`, which its manifest names
by offset and id; a key deleted is a value of None). A load reads the chain back to a whole one and applies it
oldest first. The writer starts a whole one again once the changes since the last add up to its size, so a load
reads at most about twice the state.

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
_DELETED = 0xFFFFFFFF  # a value's length for a key deleted since the base
_CHUNK_BYTES = 512 * 1024  # well under a broker's default largest message (1 MiB)
_ID, _PREV = "snapshot", "prev"
_CHUNK, _MANIFEST = b"chunk", b"manifest"


def encode_chunk(pairs: Iterable[tuple[bytes, bytes | None]]) -> bytes:
    out = bytearray()
    for key, value in pairs:
        if value is None:
            out += _PAIR.pack(len(key), _DELETED)
            out += key
        else:
            out += _PAIR.pack(len(key), len(value))
            out += key
            out += value
    return bytes(out)


def decode_chunk(raw: bytes) -> Iterator[tuple[bytes, bytes | None]]:
    view, i = memoryview(raw), 0
    while i < len(raw):
        k, v = _PAIR.unpack_from(raw, i)
        i += _PAIR.size
        if v == _DELETED:
            yield bytes(view[i:i + k]), None
            v = 0
        else:
            yield bytes(view[i:i + k]), bytes(view[i + k:i + k + v])
        i += k + v


@dataclass(frozen=True)
class Base:
    """A complete snapshot that later ones may hold only the changes since."""

    offset: int  # of its manifest
    id: str


@dataclass(frozen=True)
class Export:
    """A partition's state as a stage exported it, to be written: every key, or only those changed since the
    partition's last snapshot (`changes_only`), and the engine's values outside its maps."""

    pairs: Iterator[tuple[bytes, bytes | None]]
    meta: dict
    changes_only: bool


@dataclass(frozen=True)
class Written:
    keys: int
    bytes: int
    manifest: Base


@dataclass(frozen=True)
class Loaded:
    """A snapshot loaded into the store: the input offset its state had reached, the engine's own values, and
    the bytes of its chain (the whole one it starts from, and the changes since)."""

    input_offset: int
    meta: dict
    keys: int
    bytes: int  # of the whole snapshot the chain starts from
    changes_bytes: int  # of the snapshots of changes on top of it
    manifest: Base


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
                    pairs: Iterator[tuple[bytes, bytes | None]], base: Base | None = None) -> Written:
        """Writes one snapshot (pairs: the partition's keys as the store exported them; with a base, only those
        changed since it)."""
        producer = await self.publisher.ensure_started()
        snapshot_id = uuid.uuid4().hex
        headers = [(_ID, snapshot_id.encode()), (_PREV, str(self.last_manifest.get(partition, -1)).encode())]
        first: int | None = None
        keys, total, size = 0, 0, 0
        chunk: list[tuple[bytes, bytes | None]] = []
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
            size += len(key) + len(value or b"") + _PAIR.size
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
                                 "first": first, "keys": keys, "bytes": total, "meta": meta,
                                 "base": None if base is None else {"offset": base.offset, "id": base.id}})
        done = await (await producer.send(self.topic, manifest, key=_MANIFEST, partition=partition,
                                          headers=[(_ID, snapshot_id.encode())]))
        self.last_manifest[partition] = done.offset
        return Written(keys=keys, bytes=total, manifest=Base(done.offset, snapshot_id))

    async def load_latest(self, partition: int, load: Callable[[Iterator[tuple[bytes, bytes | None]]], int]
                          ) -> Loaded | None:
        """Finds the partition's newest complete snapshot and hands its chain's keys to `load` chunk by chunk, the
        whole snapshot first. None: there is none, or part of its chain is gone (the caller then clears whatever
        was loaded and restores from the start)."""
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
            newest = await self._newest_manifest(consumer, tp)
            chain = [] if newest is None else await self._chain(consumer, tp, newest)
            if not chain:
                return None
            keys = 0
            for manifest, info in reversed(chain):  # the whole one first
                if (loaded := await self._load_one(consumer, tp, manifest, info, load)) is None:
                    return None
                keys += loaded
            newest_info = chain[0][1]
            self.last_manifest[partition] = chain[0][0].offset
            return Loaded(input_offset=newest_info["input_offset"], meta=newest_info["meta"], keys=keys,
                          bytes=chain[-1][1]["bytes"], changes_bytes=sum(info["bytes"] for _, info in chain[:-1]),
                          manifest=Base(chain[0][0].offset, newest_info["id"]))
        finally:
            await consumer.stop()

    async def _newest_manifest(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> ConsumerRecord | None:
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
        return manifest

    async def _chain(self, consumer: AIOKafkaConsumer, tp: TopicPartition, newest: ConsumerRecord
                     ) -> list[tuple[ConsumerRecord, dict]]:
        """The newest manifest and those of its bases, newest first, down to a whole snapshot; [] if one is missing
        or of another layout."""
        chain = []
        manifest: ConsumerRecord | None = newest
        while manifest is not None:
            info = orjson.loads(manifest.value)
            if info.get("layout") != self.layout:
                log.warning("snapshot %s of %s/%d has layout %s, not %d: not used", info["id"], tp.topic,
                            tp.partition, info.get("layout"), self.layout)
                return []
            chain.append((manifest, info))
            base = info.get("base")
            if base is None:
                return chain
            manifest = None
            async for record in _read(consumer, tp, base["offset"], until=base["offset"] + 1):
                if record.key == _MANIFEST and _header(record, _ID) == base["id"]:
                    manifest = record
            if manifest is None:
                log.warning("snapshot %s of %s/%d: its base %s is gone: not used", info["id"], tp.topic,
                            tp.partition, base["id"])
        return []

    async def _load_one(self, consumer: AIOKafkaConsumer, tp: TopicPartition, manifest: ConsumerRecord, info: dict,
                        load: Callable[[Iterator[tuple[bytes, bytes | None]]], int]) -> int | None:
        keys = 0
        expected = info["first"]
        async for record in _read(consumer, tp, info["first"], until=manifest.offset):
            if expected is not None and record.offset != expected:
                log.warning("snapshot %s of %s/%d starts at %d, not %d (deleted by retention?): not used",
                            info["id"], tp.topic, tp.partition, record.offset, expected)
                return None
            expected = None
            if _header(record, _ID) == info["id"]:
                keys += load(decode_chunk(record.value))
        return None if expected is not None else keys


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

"""State snapshots in their topic, against a real broker: the newest complete one is found and loaded whole, or as
a chain of changes on top of a whole one; one cut short (no manifest), or on top of one that is gone, is never
read; without one the restore starts from the beginning."""

import uuid

import pytest
from agora_common.kafka import EventPublisher, ensure_topics, kafka_connection
from agora_points.adapters.snapshots import Base, SnapshotLog, decode_chunk, encode_chunk

pytestmark = pytest.mark.servers("kafka")


def pairs(n: int, tag: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"k%06d" % i, tag + b"-%d" % i * 50) for i in range(n)]


def test_a_chunk_decodes_to_what_was_encoded():
    data = [(b"", b"{}"), (b"a\x00b", b""), (b"gone", None), *pairs(100, b"v")]
    assert list(decode_chunk(encode_chunk(data))) == data


async def _load(log: SnapshotLog, partition: int) -> tuple[object, list[tuple[bytes, bytes]]]:
    loaded: list[tuple[bytes, bytes]] = []

    def load(chunk) -> int:
        before = len(loaded)
        loaded.extend(chunk)
        return len(loaded) - before

    return await log.load_latest(partition, load), loaded


@pytest.fixture
async def snapshot_topic(kafka_bootstrap):
    """A snapshot topic of its own (two partitions), and the publisher its writers share."""
    topic = f"t{uuid.uuid4().hex[:10]}-snapshots"
    await ensure_topics(kafka_bootstrap, [topic], partitions=2)
    publisher = EventPublisher(kafka_bootstrap)
    yield topic, publisher
    await publisher.stop()


def snapshot_log(kafka_bootstrap, snapshot_topic, *, layout: int = 1) -> SnapshotLog:
    topic, publisher = snapshot_topic
    return SnapshotLog(kafka_connection(kafka_bootstrap), publisher, topic, layout=layout)


async def test_the_newest_complete_snapshot_is_loaded_and_one_cut_short_is_not(kafka_bootstrap, snapshot_topic):
    writer = snapshot_log(kafka_bootstrap, snapshot_topic)
    assert (await _load(writer, 0))[0] is None  # nothing written: restore from the beginning

    # big enough for several chunks; the second replaces the first
    first = pairs(9_000, b"one")
    await writer.write(0, input_offset=10, meta={"clock": 1}, pairs=iter(first))
    second = pairs(12_000, b"two")
    written = await writer.write(0, input_offset=25, meta={"clock": 2}, pairs=iter(second))
    assert written.keys == 12_000
    assert (await _load(writer, 0))[0].input_offset == 25  # the manifest is the partition's last record

    # a snapshot cut short: its chunks were sent, its manifest never (the writer died)
    def dies_midway():
        yield from pairs(9_000, b"three")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        await writer.write(0, input_offset=40, meta={"clock": 3}, pairs=dies_midway())

    reader = snapshot_log(kafka_bootstrap, snapshot_topic)  # knowing nothing
    loaded, keys = await _load(reader, 0)
    assert loaded is not None and loaded.input_offset == 25 and loaded.meta == {"clock": 2}
    assert loaded.keys == 12_000 and keys == second
    assert (await _load(reader, 1))[0] is None  # the other partition has none

    # a worker of a version that encodes its values otherwise does not load them
    other_layout = snapshot_log(kafka_bootstrap, snapshot_topic, layout=2)
    assert (await _load(other_layout, 0))[0] is None


async def test_a_chain_of_changes_loads_on_top_of_its_whole_snapshot(kafka_bootstrap, snapshot_topic):
    writer = snapshot_log(kafka_bootstrap, snapshot_topic)
    whole = await writer.write(0, input_offset=10, meta={"clock": 1}, pairs=iter(pairs(9_000, b"one")))
    first = await writer.write(0, input_offset=20, meta={"clock": 2}, base=whole.manifest,
                               pairs=iter([(b"k000001", b"changed"), (b"k000002", None), (b"new", b"n")]))
    second = await writer.write(0, input_offset=30, meta={"clock": 3}, base=first.manifest,
                                pairs=iter([(b"k000001", b"again"), (b"new", None)]))
    state: dict[bytes, bytes] = {}

    def load(chunk) -> int:
        n = 0
        for key, value in chunk:
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
            n += 1
        return n

    reader = snapshot_log(kafka_bootstrap, snapshot_topic)
    loaded = await reader.load_latest(0, load)
    expected = dict(pairs(9_000, b"one")) | {b"k000001": b"again"}
    del expected[b"k000002"]
    assert loaded is not None and loaded.input_offset == 30 and loaded.meta == {"clock": 3}
    assert state == expected
    assert loaded.bytes == whole.bytes and loaded.changes_bytes == first.bytes + second.bytes
    assert loaded.manifest == second.manifest  # what the next snapshot of changes is on top of

    # changes on top of a snapshot that is not in the log (a broker that lost it): not loaded
    await writer.write(0, input_offset=40, meta={"clock": 4}, base=Base(whole.manifest.offset, "gone"),
                       pairs=iter([(b"k000003", b"x")]))
    assert await reader.load_latest(0, lambda chunk: len(list(chunk))) is None

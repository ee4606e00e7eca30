"""When a stage's member writes a state snapshot, and whether it holds the whole state or only the changes since
the last one (adapters/group_member.py). The snapshot log is a recording stand-in here: what reaches the broker
is tested in integration/test_snapshots.py and the crash tests."""

import asyncio

from agora_points.adapters.group_member import GroupMember
from agora_points.adapters.snapshots import Base, Export, Written
from aiokafka import TopicPartition

TP = TopicPartition("facts", 0)


class Stage:
    stateful = True

    def export(self, partition: TopicPartition, *, changes_only: bool) -> Export:
        return Export(iter([(b"k", b"v")]), {"clock": 1}, changes_only)


class RecordingLog:
    """Writes nothing: notes each snapshot's base, says each whole one is 1,000 bytes and each of changes 400."""

    def __init__(self) -> None:
        self.written: list[Base | None] = []
        self.fail_next = False

    async def write(self, partition: int, *, input_offset: int, meta: dict, pairs, base: Base | None = None
                    ) -> Written:
        list(pairs)
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("broker away")
        self.written.append(base)
        n = len(self.written)
        return Written(keys=1, bytes=1_000 if base is None else 400, manifest=Base(offset=n * 10, id=f"s{n}"))


async def _snapshot(member: GroupMember) -> None:
    """One interval of input, then the member's check between batches, and its writer."""
    member.unsnapshotted[TP] = member.snapshot_bytes
    member._snapshot_if_due()
    assert member._snapshotting is not None
    await member._snapshotting


async def test_the_first_snapshot_is_whole_then_changes_on_top_until_they_weigh_as_much():
    log = RecordingLog()
    member = GroupMember("127.0.0.1:9", group_id="g", topics=["facts"], stage=Stage(), batch_max=10,
                         snapshots=log, snapshot_bytes=100)  # type: ignore[arg-type]
    member.owned, member.reached = {TP}, {TP: 5}
    for _ in range(5):
        await _snapshot(member)
    # whole (1,000 bytes), then changes of 400, 400, 400 (1,200 >= 1,000: long), then whole again
    assert log.written == [None, Base(10, "s1"), Base(20, "s2"), Base(30, "s3"), None]
    assert member.snapshot_chains[TP].newest == Base(50, "s5")

    log.fail_next = True  # cut short: the changes after it would be on top of nothing that was written
    await _snapshot(member)
    await _snapshot(member)
    assert log.written[-1] is None
    await _snapshot(member)
    assert log.written[-1] == Base(60, "s6")


async def test_no_snapshot_before_its_interval_of_input_nor_while_the_last_is_being_written():
    log = RecordingLog()
    member = GroupMember("127.0.0.1:9", group_id="g", topics=["facts"], stage=Stage(), batch_max=10,
                         snapshots=log, snapshot_bytes=100)  # type: ignore[arg-type]
    member.owned, member.reached = {TP}, {TP: 5}
    member.unsnapshotted[TP] = 99
    member._snapshot_if_due()
    assert member._snapshotting is None
    member.unsnapshotted[TP] = 100
    member._snapshot_if_due()
    member.unsnapshotted[TP] = 100
    member._snapshot_if_due()  # the first is still queued: the next must know what it is on top of
    assert len(member._snapshot_queue) == 1
    await asyncio.gather(member._snapshotting)  # type: ignore[arg-type]
    assert log.written == [None]

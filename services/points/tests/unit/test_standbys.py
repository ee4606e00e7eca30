"""Standby replicas: the group's sticky, standby-aware assignment plan, and a stage's copies becoming its state."""

from agora_points.adapters.group_member import plan_assignment
from agora_points.service.stages import Standbys, _reassign
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

T = "facts"
P = [TopicPartition(T, p) for p in range(4)]


def held(owned=(), standbys=()) -> dict:
    return {"owned": [[T, p] for p in owned], "standbys": [[T, p] for p in standbys]}


def by_member(plan: dict) -> dict:
    out: dict = {}
    for tp, member in plan.items():
        out.setdefault(member, set()).add(tp.partition)
    return out


def test_one_member_owns_everything_and_keeps_no_copies():
    owners, standbys = plan_assignment(P, {"a": held()})
    assert by_member(owners) == {"a": {0, 1, 2, 3}} and standbys == {}


def test_two_new_members_share_evenly_and_each_copies_the_other():
    owners, standbys = plan_assignment(P, {"a": held(), "b": held()})
    mine = by_member(owners)
    assert len(mine["a"]) == len(mine["b"]) == 2
    assert by_member(standbys) == {"a": mine["b"], "b": mine["a"]}


def test_a_joining_member_takes_only_an_even_share_and_the_one_giving_it_up_copies_it():
    owners, standbys = plan_assignment(P, {"a": held(owned=[0, 1, 2, 3]), "b": held()})
    mine = by_member(owners)
    assert mine["a"] < {0, 1, 2, 3} and len(mine["a"]) == 2  # sticky: a keeps two of its own
    assert by_member(standbys)["a"] == mine["b"]  # and keeps warm what it gave up


def test_a_dead_members_partitions_go_to_the_members_with_warm_copies():
    survivors = {"a": held(owned=[0, 1], standbys=[4, 5]), "b": held(owned=[2, 3], standbys=[0, 1]),
                 "c": held(owned=[6, 7], standbys=[2, 3])}  # d owned 4, 5, copied by a; it died
    parts = [TopicPartition(T, p) for p in range(8)]
    owners, standbys = plan_assignment(parts, {m: survivors[m] for m in ("a", "b", "c")})
    mine = by_member(owners)
    assert {0, 1, 4} <= mine["a"] or {0, 1, 5} <= mine["a"]  # sticky, then a warm copy within its share
    assert {2, 3} <= mine["b"] and {6, 7} <= mine["c"]
    assert all(standbys[tp] != owners[tp] for tp in parts)
    assert sorted(len(v) for v in mine.values()) == [2, 3, 3]


def record(offset: int) -> ConsumerRecord:
    return ConsumerRecord(T, 0, offset, 0, 0, None, b"[]", None, 0, 2, [])


def test_a_partition_taken_away_becomes_a_copy_and_a_copy_given_back_is_restored_from_its_offset():
    made, dropped = [], []

    def make(p: int) -> str:
        made.append(p)
        return f"state{p}"

    standbys = Standbys[str](make=make, drop=dropped.append)
    held_: dict[int, str] = {}
    held_, fresh, _ = _reassign(held_, set(P), None, 4, {}, standbys, merge=lambda parts: "merged")
    assert fresh == dict.fromkeys(P, 0) and sorted(made) == [0, 1, 2, 3]

    # 2 and 3 go to another worker, after this one handled them up to 40 and 50: they become copies
    held_, fresh, _ = _reassign(held_, set(P[:2]), 4, 4, {P[2]: 40, P[3]: 50}, standbys, merge=lambda parts: "")
    assert fresh == {} and set(held_) == {0, 1}
    assert standbys.keep({P[2]}) == {P[2]: 40}  # the group wants a copy of 2 only: 3's state is dropped
    assert dropped == ["state3"]

    assert standbys.advance(P[2], [record(40), record(41)]) == "state2"
    held_, fresh, _ = _reassign(held_, set(P[:3]), 4, 4, {}, standbys, merge=lambda parts: "")
    assert fresh == {P[2]: 42} and held_[2] == "state2"  # restored from where the copy had got to
    assert standbys.advance(P[2], [record(42)]) is None  # no longer a copy: the reader's late records are ignored


def test_a_merged_state_is_neither_copied_nor_dropped_while_it_still_serves_a_partition():
    """One state shared by all the partitions (kept whole after the partitioning changed, see _repartitioned):
    taking some partitions away must not clear it under the others, and taking all away drops it once."""
    dropped: list[str] = []
    standbys = Standbys[str](make=lambda p: f"state{p}", drop=dropped.append)
    held = dict.fromkeys(range(4), "merged")
    held, fresh, _ = _reassign(held, set(P[:2]), 4, 4, {P[2]: 10, P[3]: 10}, standbys, merge=lambda parts: "")
    assert held == {0: "merged", 1: "merged"} and fresh == {} and dropped == [] and standbys.copies == {}
    held, fresh, _ = _reassign(held, set(), 4, 4, {P[0]: 10, P[1]: 10}, standbys, merge=lambda parts: "")
    assert held == {} and dropped == ["merged"] and standbys.copies == {}

"""The queues of `Transactions.run(one_at_a_time=...)`: units naming a common key run one after another, units
with no key in common run together, keys taken in one order cannot deadlock, and no lock outlives its users."""

import asyncio

import pytest
from agora_common.uow import Contention, KeyedLocks


async def test_a_common_key_serialises_and_disjoint_keys_overlap():
    locks = KeyedLocks()
    inside: set[str] = set()
    overlaps: list[set[str]] = []

    async def unit(name: str, keys: list[str]) -> None:
        async with locks.hold(keys, timeout=5):
            inside.add(name)
            overlaps.append(set(inside))
            await asyncio.sleep(0.02)
            inside.discard(name)

    await asyncio.gather(unit("a", ["post:1", "expert:x"]), unit("b", ["expert:x"]), unit("c", ["post:2"]))
    assert not any({"a", "b"} <= seen for seen in overlaps)  # a and b share expert:x: never together
    assert any("c" in seen and len(seen) > 1 for seen in overlaps)  # c shares nothing: ran beside another
    assert len(locks) == 0


async def test_keys_named_in_opposite_orders_do_not_deadlock():
    locks = KeyedLocks()
    done: list[str] = []

    async def unit(name: str, keys: list[str]) -> None:
        async with locks.hold(keys, timeout=5):
            await asyncio.sleep(0.01)
            done.append(name)

    await asyncio.wait_for(asyncio.gather(*(unit(str(i), ["k1", "k2"] if i % 2 else ["k2", "k1"])
                                            for i in range(10))), timeout=5)
    assert len(done) == 10 and len(locks) == 0


async def test_a_wait_that_times_out_or_is_cancelled_leaves_the_locks_usable():
    locks = KeyedLocks()
    release = asyncio.Event()

    async def holder() -> None:
        async with locks.hold(["k"], timeout=5):
            await release.wait()

    task = asyncio.create_task(holder())
    await asyncio.sleep(0)
    with pytest.raises(Contention):
        async with locks.hold(["j", "k"], timeout=0.05):
            pytest.fail("got a lock another unit holds")
    waiter = asyncio.create_task(locks.hold(["k"], timeout=5).__aenter__())
    await asyncio.sleep(0.01)
    waiter.cancel()
    release.set()
    await task
    assert len(locks) == 0
    async with locks.hold(["k", "j"], timeout=0.5):  # free again, for a new unit
        assert len(locks) == 2

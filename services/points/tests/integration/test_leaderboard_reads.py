"""Rank reads against a real Redis while the board keeps changing under them."""

import asyncio
import itertools
import random
import uuid

import pytest
from agora_points.adapters.leaderboards import Leaderboards

pytestmark = pytest.mark.servers("redis")


async def test_a_members_rank_and_neighbours_are_read_whole_while_the_board_changes(agora_env):
    """The member's place and its neighbours are one consistent read: never a window that misses the member
    because another write moved it in between (that answered 500 on a busy board)."""
    boards = Leaderboards(agora_env["redis_url"], namespace=f"reads-{uuid.uuid4().hex}:")
    board = ("global", "all")
    users = [f"u{i}" for i in range(40)]
    await boards.write({board: dict.fromkeys(users, 10)})
    stop = asyncio.Event()

    async def churn() -> None:  # big moves, all the time
        rng = random.Random(1)
        while not stop.is_set():
            await boards.write({board: {rng.choice(users): rng.randrange(1, 1000) for _ in range(4)}})

    writers = [asyncio.create_task(churn()) for _ in range(3)]
    try:
        for i in range(1500):
            user = users[i % len(users)]
            found = await boards.around(board, user, 2)
            assert found is not None, user
            me, participants, rows = found
            assert me.user_id == user and participants == len(users)
            assert 1 <= len(rows) <= 5 and [r.rank for r in rows] == sorted(r.rank for r in rows)
            assert all(r.points >= s.points for r, s in itertools.pairwise(rows))
    finally:
        stop.set()
        await asyncio.gather(*writers)
        await boards.close()

"""Leaderboards in Redis sorted sets: one sorted set per (scope, window), member = user id, score = −points.

Ascending order is then best first with ties by user id, and every read is O(log n + k) however many members a
board has: top-k is ZRANGE, a member's rank is ZCOUNT of the scores strictly better than theirs (competition
ranking, "1224": tied members share a rank, the next rank counts everyone ahead), neighbours are a ZRANGE around
ZRANK. Boards hold only members with points > 0 who are not suspended or deleted.

Writes are absolute (ZADD the member's current points, ZREM at ≤ 0), never increments: writing the same value
twice, or again after a restart, changes nothing, so the board cannot drift from the ledger. `replace` swaps in a
whole board state at once (built under a temporary key, then RENAME), drops boards the state no longer has and
marks the namespace complete; a Redis that comes back empty has lost the mark, and the next write says so.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

BoardKey = tuple[str, str]  # (scope, window): ("global", "all"), ("tag:k8s", "m2026-11"), ("sig:s1", "w2026-W48")
_CHUNK = 5_000  # members per command when a whole board is written

# A batch of changed cells in one command (a pipeline costs a command per board, and a batch touches hundreds of
# boards: global, tags, SIGs x three windows). KEYS: the completeness mark, then one key per board; ARGV, per
# board: n_on, n_off, n_on (score, member) pairs, n_off members. Returns whether the mark is there.
_WRITE = """
local i = 1
for b = 2, #KEYS do
  local key, n_on, n_off = KEYS[b], tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  i = i + 2
  local j = 0
  while j < n_on do
    local k = math.min(n_on - j, 2000)
    redis.call('ZADD', key, unpack(ARGV, i + 2 * j, i + 2 * (j + k) - 1))
    j = j + k
  end
  i = i + 2 * n_on
  j = 0
  while j < n_off do
    local k = math.min(n_off - j, 4000)
    redis.call('ZREM', key, unpack(ARGV, i + j, i + j + k - 1))
    j = j + k
  end
  i = i + n_off
end
return redis.call('EXISTS', KEYS[1])
"""


@dataclass(frozen=True, slots=True)
class Row:
    rank: int
    user_id: str
    points: int
    display_name: str | None = None


class Leaderboards:
    def __init__(self, url: str, *, namespace: str) -> None:
        self.redis = Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2)
        # one hash tag for every key of the namespace: on a Redis Cluster they share a slot, so the write script
        # may touch them all
        self.namespace = f"{{{namespace}}}"
        self._write = self.redis.register_script(_WRITE)

    def key(self, board: BoardKey) -> str:
        return f"{self.namespace}board:{board[0]}|{board[1]}"

    async def close(self) -> None:
        await self.redis.aclose()

    # ---- writes ------------------------------------------------------------------------------------
    @property
    def _complete(self) -> str:
        return f"{self.namespace}complete"

    @property
    def _names(self) -> str:
        return f"{self.namespace}names"  # user -> display name, for the rows of a board

    async def write(self, cells: Mapping[BoardKey, Mapping[str, int]]) -> bool:
        """Set members' points (≤ 0: off the board), in one command however many boards. False if Redis no longer
        holds the whole state (it restarted empty, or was flushed): the caller then writes it all with `replace`."""
        keys: list[str] = [self._complete]
        args: list[str | int] = []
        for board, members in cells.items():
            on = [(user, points) for user, points in members.items() if points > 0]
            off = [user for user, points in members.items() if points <= 0]
            keys.append(self.key(board))
            args += [len(on), len(off)]
            for user, points in on:
                args += [-points, user]
            args += off
        return bool(await self._write(keys=keys, args=args))

    async def write_names(self, names: Mapping[str, str | None]) -> None:
        """Display names (None: the account is gone)."""
        known = {user: name for user, name in names.items() if name}
        gone = [user for user, name in names.items() if not name]
        async with self.redis.pipeline(transaction=False) as pipe:
            if known:
                pipe.hset(self._names, mapping=cast(Any, known))  # redis-py's Mapping type is invariant
            if gone:
                pipe.hdel(self._names, *gone)
            await pipe.execute()

    async def replace(self, boards: Iterable[tuple[BoardKey, Mapping[str, int]]],
                      names: Mapping[str, str] | None = None) -> int:
        """Make Redis hold exactly these boards (members with points > 0) and display names; returns how many
        boards."""
        kept: set[str] = set()
        if names is not None:
            await self._swap_in(self._names, list(names.items()), lambda pipe, key, chunk: pipe.hset(key, mapping=chunk))
        for board, members in boards:
            on = [(user, -points) for user, points in members.items() if points > 0]
            if on:
                kept.add(self.key(board))
                await self._swap_in(self.key(board), on, lambda pipe, key, chunk: pipe.zadd(key, chunk))
        stale = [key async for key in self.redis.scan_iter(match=f"{self.namespace}board:*", count=1_000)
                 if key not in kept]
        for i in range(0, len(stale), 500):
            await self.redis.delete(*stale[i:i + 500])
        await self.redis.set(self._complete, "1")
        return len(kept)

    async def _swap_in(self, key: str, items: list[tuple[str, Any]], add: Callable[[Any, str, dict], Any]) -> None:
        """Build the key's new content under a staging key, `_CHUNK` items per command, then RENAME it over the key
        (atomic: a reader sees the old content or the new one); no items: the key is deleted."""
        staging = f"{key}~staging"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(staging)
            for i in range(0, len(items), _CHUNK):
                add(pipe, staging, dict(items[i:i + _CHUNK]))
            if items:
                pipe.rename(staging, key)
            else:
                pipe.delete(key)
            await pipe.execute()

    # ---- reads -------------------------------------------------------------------------------------
    async def top(self, board: BoardKey, limit: int) -> tuple[int, list[Row]]:
        """(participants, the first `limit` rows)."""
        key = self.key(board)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(key)
            pipe.zrange(key, 0, limit - 1, withscores=True)
            participants, members = await pipe.execute()
        return participants, await self._named(_ranked(members, first_index=0, first_rank=1))

    async def around(self, board: BoardKey, user: str, around: int) -> tuple[Row, int, list[Row]] | None:
        """(the member's row, participants, rows from `around` places above to `around` below); None if the
        member is not on the board."""
        key = self.key(board)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zscore(key, user)
            pipe.zrank(key, user)
            pipe.zcard(key)
            score, index, participants = await pipe.execute()
        if score is None or index is None:
            return None
        start = max(index - around, 0)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrange(key, start, index + around, withscores=True)
            pipe.zcount(key, "-inf", f"({score}")  # members strictly ahead of the member
            members, ahead = await pipe.execute()
        first_score = members[0][1]
        first_rank = ahead + 1 if first_score == score else None
        if first_rank is None:
            first_rank = await self.redis.zcount(key, "-inf", f"({first_score}") + 1
        rows = await self._named(_ranked(members, first_index=start, first_rank=first_rank))
        me = next(row for row in rows if row.user_id == user)
        return me, participants, rows

    async def _named(self, rows: list[Row]) -> list[Row]:
        if not rows:
            return rows
        names = cast(list[str | None], await self.redis.hmget(self._names, [row.user_id for row in rows]))
        return [Row(row.rank, row.user_id, row.points, name) for row, name in zip(rows, names, strict=True)]


    async def members(self, board: BoardKey) -> dict[str, int]:
        """Every member's points (for checks; O(n))."""
        members = cast(list[tuple[str, float]], await self.redis.zrange(self.key(board), 0, -1, withscores=True))
        return {user: int(-score) for user, score in members}


def _ranked(members: list[tuple[str, float]], *, first_index: int, first_rank: int) -> list[Row]:
    """Competition ranks for consecutive members starting at `first_index`, the first of them ranked
    `first_rank`: a member's rank is 1 + the number of members with more points."""
    rows: list[Row] = []
    last_score, rank = None, first_rank
    for i, (user, score) in enumerate(members):
        if last_score is not None and score != last_score:
            rank = first_index + i + 1
        last_score = score
        rows.append(Row(rank, user, int(-score)))
    return rows

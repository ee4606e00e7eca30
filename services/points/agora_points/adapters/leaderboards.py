"""Leaderboards in Redis sorted sets: one sorted set per (scope, window), member = user id, score = −points.

Ascending order is then best first with ties by user id, and every read is O(log n + k) however many members a
board has: top-k is ZRANGE, a member's rank is ZCOUNT of the scores strictly better than theirs (competition
ranking, "1224": tied members share a rank, the next rank counts everyone ahead), neighbours are a ZRANGE around
ZRANK. Boards hold only members with points > 0 who are not suspended or deleted.

Every worker writes the cells of the users it owns (its award-state partitions), with absolute values (ZADD the
member's current points, ZREM at ≤ 0), never increments: writing the same value twice, or again after a restart
or a partition move, changes nothing, so the boards cannot drift from the ledgers. A partition written whole is
marked complete; a Redis that comes back empty has lost the marks, and the next write says which are missing.
Beside the boards: display names and titles (for the rows) and which worker serves each partition.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

BoardKey = tuple[str, str]  # (scope, window): ("global", "all"), ("tag:k8s", "m2026-11"), ("sig:s1", "w2026-W48")

# A batch of changed cells in one command (a pipeline costs a command per board, and a batch touches hundreds of
# boards: global, tags, SIGs x three windows). KEYS: the completeness marks of the writer's partitions, then one
# key per board; ARGV: the number of marks, then per board: n_on, n_off, n_on (score, member) pairs, n_off
# members. Returns the positions (1-based) of the marks that are missing.
_WRITE = """
local marks = tonumber(ARGV[1])
local i = 2
for b = marks + 1, #KEYS do
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
local missing = {}
for m = 1, marks do
  if redis.call('EXISTS', KEYS[m]) == 0 then missing[#missing + 1] = m end
end
return missing
"""


# A member's place and neighbours, read in one step: with writes between separate reads, the member could move
# out of the window read around its old place. KEYS: the board; ARGV: member, how many places each side.
# Returns nil (not on the board) or {participants, index of the window's first, its competition rank, the
# window as member, score, member, score, ...}.
_AROUND = """
local index = redis.call('ZRANK', KEYS[1], ARGV[1])
if not index then return nil end
local start = math.max(index - tonumber(ARGV[2]), 0)
local window = redis.call('ZRANGE', KEYS[1], start, index + tonumber(ARGV[2]), 'WITHSCORES')
local ahead = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. window[2])
return {redis.call('ZCARD', KEYS[1]), start, ahead + 1, window}
"""


@dataclass(frozen=True, slots=True)
class Row:
    rank: int
    user_id: str
    points: int
    display_name: str | None = None
    titles: tuple[str, ...] = ()


class Leaderboards:
    def __init__(self, url: str, *, namespace: str) -> None:
        self.redis = Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2)
        # one hash tag for every key of the namespace: on a Redis Cluster they share a slot, so the write script
        # may touch them all
        self.namespace = f"{{{namespace}}}"
        self._write = self.redis.register_script(_WRITE)
        self._around = self.redis.register_script(_AROUND)

    def key(self, board: BoardKey) -> str:
        return f"{self.namespace}board:{board[0]}|{board[1]}"

    async def close(self) -> None:
        await self.redis.aclose()

    # ---- writes ------------------------------------------------------------------------------------
    def _mark(self, partition: int) -> str:
        return f"{self.namespace}complete:{partition}"

    @property
    def _names(self) -> str:
        return f"{self.namespace}names"  # user -> display name, for the rows of a board

    @property
    def _titles(self) -> str:
        return f"{self.namespace}titles"  # user -> honor titles, tab-separated

    @property
    def _owners(self) -> str:
        return f"{self.namespace}owners"  # award-state partition -> the URL of the worker serving it

    async def write(self, cells: Mapping[BoardKey, Mapping[str, int]], partitions: Iterable[int] = ()) -> set[int]:
        """Set members' points (≤ 0: off the board), in one command however many boards. Returns which of
        `partitions` Redis no longer holds whole (it restarted empty, or was flushed): write those again."""
        marks = sorted(partitions)
        keys: list[str] = [self._mark(p) for p in marks]
        args: list[str | int] = [len(marks)]
        for board, members in cells.items():
            on = [(user, points) for user, points in members.items() if points > 0]
            off = [user for user, points in members.items() if points <= 0]
            keys.append(self.key(board))
            args += [len(on), len(off)]
            for user, points in on:
                args += [-points, user]
            args += off
        missing = await self._write(keys=keys, args=args)
        return {marks[int(m) - 1] for m in missing}

    async def mark_complete(self, partition: int) -> None:
        await self.redis.set(self._mark(partition), "1")

    async def write_names(self, names: Mapping[str, str | None]) -> None:
        """Display names (None: the account is gone)."""
        await self._write_hash(self._names, names)

    async def write_titles(self, titles: Mapping[str, set[str]]) -> None:
        await self._write_hash(self._titles, {user: "\t".join(sorted(held)) for user, held in titles.items()})

    async def _write_hash(self, key: str, values: Mapping[str, str | None]) -> None:
        known = {user: value for user, value in values.items() if value}
        gone = [user for user, value in values.items() if not value]
        async with self.redis.pipeline(transaction=False) as pipe:
            if known:
                pipe.hset(key, mapping=cast(Any, known))  # redis-py's Mapping type is invariant
            if gone:
                pipe.hdel(key, *gone)
            await pipe.execute()

    async def set_owner(self, partition: int, url: str) -> None:
        await self.redis.hset(self._owners, str(partition), url)

    async def owner(self, partition: int) -> str | None:
        return cast(str | None, await self.redis.hget(self._owners, str(partition)))

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
        found = await self._around(keys=[self.key(board)], args=[user, around])
        if found is None:
            return None
        participants, start, first_rank, flat = found
        members = [(flat[i], float(flat[i + 1])) for i in range(0, len(flat), 2)]
        rows = await self._named(_ranked(members, first_index=start, first_rank=first_rank))
        me = next(row for row in rows if row.user_id == user)
        return me, participants, rows

    async def _named(self, rows: list[Row]) -> list[Row]:
        if not rows:
            return rows
        users = [row.user_id for row in rows]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self._names, users)
            pipe.hmget(self._titles, users)
            names, titles = cast(list[list[str | None]], await pipe.execute())
        return [Row(row.rank, row.user_id, row.points, name, tuple(held.split("\t")) if held else ())
                for row, name, held in zip(rows, names, titles, strict=True)]


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

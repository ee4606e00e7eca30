"""Keeps the Redis leaderboards equal to the boards of the users this worker owns.

A partition that starts serving here (restored, or taken over) is written whole: every cell (board, user) of its
users with its current value, zero included, so a value the previous owner wrote and this one no longer has is
removed; its display names and titles too; then it is marked complete. After each batch, the cells it touched are
written with their current values. All of it by a background task, retried while Redis is down, so a slow or
absent Redis never holds up scoring (the ledgers and totals stay current; boards catch up). A Redis that comes
back empty has lost the marks, which the next write notices: those partitions are written whole again.
"""

import asyncio
import logging
import time

from agora_common.lifecycle import cancel_and_wait
from agora_common.retry import until_done

from agora_points import metrics
from agora_points.adapters.leaderboards import BoardKey, Leaderboards
from agora_points.service.stages import Keeper

log = logging.getLogger(__name__)

_CELLS_PER_WRITE = 20_000  # a partition written whole goes in commands of about this many cells


class BoardSync:
    def __init__(self, leaderboards: Leaderboards, keeper: Keeper, *, advertised_url: str | None = None) -> None:
        self.leaderboards = leaderboards
        self.advertised_url = advertised_url  # registered as the partitions' owner, for the other workers
        self.keeper = keeper
        self._pending: dict[BoardKey, dict[str, int]] = {}  # cells a failed write did not get to Redis
        self._pending_names: dict[str, str | None] = {}  # and display names
        self._pending_titles: dict[str, set[str]] = {}
        self._whole: set[int] = set()  # partitions to write whole
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        keeper.on_partition_ready = self.partition_ready
        keeper.on_changed = self.changed
        keeper.on_titles = self.titles_changed

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="points-boards")

    def partition_ready(self, partition: int) -> None:
        self._whole.add(partition)
        self._wake.set()

    def changed(self) -> None:
        """A batch changed the boards. The writer takes the touched cells when it runs, so while one write is in
        flight, the changes of several batches merge into the next (a cell once, at its latest)."""
        self._wake.set()

    def titles_changed(self, titles: dict[str, set[str]]) -> None:
        self._pending_titles.update(titles)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await until_done(self._flush, what="writing leaderboard changes to Redis", cap=5.0)

    async def _flush(self) -> None:
        for partition in sorted(self._whole):
            await self._write_whole(partition)
        cells, self._pending = self._pending, {}  # what a failed write left
        names, self._pending_names = self._pending_names, {}
        titles, self._pending_titles = self._pending_titles, {}
        for partition, book in self.keeper.books.items():
            if partition not in self.keeper.serving:
                continue
            for board, members in book.take_board_changes().items():
                cells.setdefault(board, {}).update(members)  # newer values win
            names.update(book.take_name_changes())
        try:
            if names:
                await self.leaderboards.write_names(names)
            if titles:
                await self.leaderboards.write_titles(titles)
            metrics.BOARD_CELLS_PENDING.set(sum(map(len, cells.values())))
            started = time.perf_counter()
            missing = await self.leaderboards.write(cells, self.keeper.serving)
        except BaseException:
            self._pending, self._pending_names, self._pending_titles = cells, names, titles  # for the next try
            raise
        if cells:
            metrics.BOARD_WRITE.observe(time.perf_counter() - started)
        metrics.BOARD_CELLS_PENDING.set(0)
        if missing:
            log.warning("the leaderboard store lost partitions %s (restarted empty?): writing them again",
                        sorted(missing))
            self._whole |= missing
            self._wake.set()

    async def _write_whole(self, partition: int) -> None:
        book = self.keeper.books.get(partition)
        if book is None or partition not in self.keeper.serving:
            self._whole.discard(partition)  # moved on meanwhile: its new owner writes it
            return
        if self.advertised_url:
            await self.leaderboards.set_owner(partition, self.advertised_url)
        # One consistent copy, taken without yielding: batches applied while it is written are tracked as
        # changes and written after it.
        started = time.perf_counter()
        state = book.partition_cells()
        names = book.name_state(with_deleted=True)
        titles = {user: self.keeper.titles.held.get(user, set()) for user in book.ledgers}
        book.take_board_changes()
        book.take_name_changes()
        chunk: dict[BoardKey, dict[str, int]] = {}
        size = 0
        for board, members in state:
            chunk[board] = members
            size += len(members)
            if size >= _CELLS_PER_WRITE:
                await self.leaderboards.write(chunk)
                chunk, size = {}, 0
        if chunk:
            await self.leaderboards.write(chunk)
        await self.leaderboards.write_names(names)
        await self.leaderboards.write_titles(titles)
        await self.leaderboards.mark_complete(partition)
        self._whole.discard(partition)
        log.info("leaderboards of a partition written", extra={
            "partition": partition, "users": len(book.ledgers), "seconds": round(time.perf_counter() - started, 3)})

    async def stop(self, timeout: float = 5.0) -> None:
        await cancel_and_wait(self._task)
        if not self._whole:
            try:
                await asyncio.wait_for(self._flush(), timeout)
            except Exception:  # noqa: BLE001 - the partitions' next owner writes them whole anyway
                log.warning("leaderboard changes left unwritten at shutdown; the next owner rewrites them")
        await self.leaderboards.close()

"""Keeps the Redis leaderboards equal to the engine's boards.

After the start-up replay the whole board state is written at once (`rebuild`); after each live batch the cells
(board, user) it touched are written with their current values by a background task, retried while Redis is
down, so a slow or absent Redis never holds up scoring (the ledger and totals stay current; boards catch up).
Values are absolute, so a cell written twice, or once more after a restart, cannot drift. A Redis that comes
back empty (restarted without persistence, failed over to an empty replica) is noticed at the next write and
gets the whole state again.
"""

import asyncio
import logging
import time

from agora_common.lifecycle import cancel_and_wait
from agora_common.retry import until_done

from agora_points import metrics
from agora_points.adapters.leaderboards import BoardKey, Leaderboards
from agora_points.domain.engine import Engine

log = logging.getLogger(__name__)


class BoardSync:
    def __init__(self, leaderboards: Leaderboards) -> None:
        self.leaderboards = leaderboards
        self._pending: dict[BoardKey, dict[str, int]] = {}  # cells a failed write did not get to Redis
        self._pending_names: dict[str, str | None] = {}  # and display names
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._engine: Engine | None = None
        self._needs_replace = False  # Redis must get the whole state (start-up, or it came back empty)

    def rebuild(self, engine: Engine) -> None:
        """Follow this engine: its whole board state goes to Redis first (start-up), then its changes. In the
        background, like every write: the service serves totals and ledgers even if Redis is not there yet."""
        self._engine = engine
        engine.tracking = True
        self._needs_replace = True
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="points-boards")
        self._wake.set()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("BoardSync.rebuild() comes first")
        return self._engine

    async def _replace(self) -> None:
        # One consistent copy, taken without yielding: batches applied while it is written are queued as changes
        # and written after it.
        state = [(key, dict(members)) for key, members in self.engine.board_state()]
        names = self.engine.name_state()
        self.engine.take_board_changes()
        self.engine.take_name_changes()
        self._pending, self._pending_names = {}, {}
        started = time.perf_counter()
        boards = await self.leaderboards.replace(state, names)
        self._needs_replace = False
        log.info("leaderboards written", extra={"boards": boards, "seconds": round(time.perf_counter() - started, 3)})

    def changed(self) -> None:
        """A batch changed the boards. The writer takes the engine's touched cells when it runs, so while one
        write is in flight, the changes of several batches merge into the next (a cell once, at its latest)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await until_done(self._flush, what="writing leaderboard changes to Redis", cap=5.0)

    async def _flush(self) -> None:
        if self._needs_replace:
            await self._replace()
            return
        cells, self._pending = self._pending, {}  # what a failed write left
        for board, members in self.engine.take_board_changes().items():
            cells.setdefault(board, {}).update(members)  # newer values win
        names, self._pending_names = self._pending_names, {}
        names.update(self.engine.take_name_changes())
        if names:
            try:
                await self.leaderboards.write_names(names)
            except BaseException:
                self._pending_names = names
                self._pending = cells
                raise
        if not cells:
            return
        metrics.BOARD_CELLS_PENDING.set(sum(map(len, cells.values())))
        started = time.perf_counter()
        try:
            complete = await self.leaderboards.write(cells)
        except BaseException:
            self._pending = cells  # kept for the next try; cells changed meanwhile are taken again, newer
            raise
        if not complete:
            log.warning("the leaderboard store lost its boards (restarted empty?): writing them all again")
            self._needs_replace = True
            await self._replace()
        metrics.BOARD_WRITE.observe(time.perf_counter() - started)
        metrics.BOARD_CELLS_PENDING.set(sum(map(len, self._pending.values())))

    async def stop(self, timeout: float = 5.0) -> None:
        await cancel_and_wait(self._task)
        if self._engine is not None and not self._needs_replace:
            try:
                await asyncio.wait_for(self._flush(), timeout)
            except Exception:  # noqa: BLE001 - the next start-up rebuilds the boards from the log anyway
                log.warning("leaderboard changes left unwritten at shutdown; the next start-up rewrites the boards")
        await self.leaderboards.close()

"""Background Kafka work that must not stop the service from booting: topic creation and the consumer are
(re)started until they succeed, so the API serves while the broker is down."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from agora_common.kafka import EventConsumer

log = logging.getLogger(__name__)


class SupervisedConsumer:
    """Keeps an EventConsumer running: starts it when the broker answers, restarts it if it stops (a failed
    handler stops a consumer without committing, so the batch is redelivered after the restart)."""

    def __init__(self, make: Callable[[], EventConsumer], *, prepare: Callable[[], Awaitable[None]] | None = None,
                 retry_delay: float = 2.0, stop_timeout: float = 3.0, start_wait: float = 8.0) -> None:
        self._make = make
        self._prepare = prepare
        self._retry_delay = retry_delay
        self._stop_timeout = stop_timeout
        self._start_wait = start_wait
        self._task: asyncio.Task | None = None
        self._starting: asyncio.Future | None = None
        self.consumer: EventConsumer | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="users-consumer-supervisor")

    @property
    def running(self) -> bool:
        return self.consumer is not None and self.consumer.running

    async def _run(self) -> None:
        prepared = self._prepare is None
        while True:
            try:
                if not prepared:
                    await self._prepare()
                    prepared = True
                self.consumer = self._make()
                # shielded: cancelling a half-done start leaves connections that never close cleanly
                self._starting = asyncio.ensure_future(self.consumer.start())
                await asyncio.shield(self._starting)
                while self.consumer.running:
                    await asyncio.sleep(1.0)
                task = getattr(self.consumer, "_task", None)
                error = task.exception() if task is not None and task.done() and not task.cancelled() else None
                log.error("consumer stopped; restarting", exc_info=error, extra={"group": self.consumer.group_id})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker down or handler failure: retry after a pause
                log.warning("consumer not running; will retry", extra={"error": str(exc)[:300]})
            await self._stop_consumer()
            await asyncio.sleep(self._retry_delay)

    async def _stop_consumer(self) -> None:
        if self.consumer is not None:
            try:
                # bounded: leaving the group can hang while the broker is away or a join is in flight
                await asyncio.wait_for(self.consumer.stop(), timeout=self._stop_timeout)
            except (Exception, TimeoutError):  # noqa: BLE001 - it may never have started
                log.warning("consumer did not stop cleanly")
            self.consumer = None

    async def stop(self) -> None:
        if self._starting is not None and not self._starting.done():
            await asyncio.wait([self._starting], timeout=self._start_wait)  # let a start in flight finish
            if not self._starting.done():
                self._starting.cancel()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self._stop_consumer()

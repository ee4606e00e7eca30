"""Kafka side of the service: the outbox relay (publishing) and the users-topic consumer (suspensions)."""

import asyncio
import contextlib
import logging

from agora_common.kafka import EventConsumer, ensure_topics
from agora_common.outbox import OutboxRelay
from agora_common.topics import Topics

log = logging.getLogger(__name__)


class ContentRelay(OutboxRelay):
    """The shared relay, plus: after a failed publish, (re)create the topics. A broker that restarted empty
    (the embedded one keeps topics in memory) is usable again on the next retry."""

    def __init__(self, *args, bootstrap: str, topics: Topics, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._bootstrap = bootstrap
        self._topics = topics

    async def relay_once(self) -> int:
        try:
            return await super().relay_once()
        except Exception:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ensure_topics(self._bootstrap, self._topics.all()), timeout=5)
            raise


class BackgroundConsumer:
    """Starts an EventConsumer in the background, retrying until the broker answers (the service boots anyway)."""

    def __init__(self, make_consumer, *, retry_delay: float = 2.0) -> None:
        self._make = make_consumer
        self._retry_delay = retry_delay
        self._task: asyncio.Task | None = None
        self.consumer: EventConsumer | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="users-consumer-starter")

    async def _run(self) -> None:
        while True:
            self.consumer = consumer = self._make()
            try:
                await consumer.start()
            except Exception as exc:  # noqa: BLE001 - broker down: try again later
                log.warning("users consumer could not start; retrying", extra={"error": str(exc)[:200]})
                with contextlib.suppress(Exception):
                    await consumer.stop()
                self.consumer = None
                await asyncio.sleep(self._retry_delay)
                continue
            return

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.consumer:
            with contextlib.suppress(Exception):
                await self.consumer.stop()

"""The events service: community events from registration to certificate."""

import asyncio
import logging
from contextlib import asynccontextmanager

from agora_common.kafka import EventPublisher, ensure_topics
from agora_common.mongo import make_client, ping
from agora_common.topics import Topics
from agora_common.web import create_app as create_web_app
from fastapi import FastAPI

from agora_events.adapters.consumers import run_when_broker_answers, users_consumer
from agora_events.adapters.mongo import ensure_indexes
from agora_events.adapters.relay import LeasedOutboxRelay
from agora_events.adapters.signing_key import load_signing_key
from agora_events.api.routes import certificates, competitions, events, exams, registrations, series
from agora_events.config import Settings
from agora_events.service.context import Ctx

log = logging.getLogger(__name__)


async def _ensure_topics_in_background(settings: Settings) -> None:
    """Topics are created when the broker answers; the service does not wait for it to serve requests."""
    delay = 1.0
    while True:
        try:
            await ensure_topics(settings.kafka_bootstrap, Topics(settings.topic_prefix).all(),
                                partitions=settings.topic_partitions)
            return
        except Exception as exc:  # noqa: BLE001 - broker down: the outbox keeps the events meanwhile
            log.warning("could not ensure topics; retrying", extra={"error": str(exc)[:200]})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        client = make_client(settings)
        db = client[settings.mongo_db]
        await ensure_indexes(db)
        topic = Topics(settings.topic_prefix).events
        try:
            await asyncio.wait_for(_ensure_topics_in_background(settings), timeout=2)
            topics_task = None
        except TimeoutError:
            topics_task = asyncio.create_task(_ensure_topics_in_background(settings))
        publisher = EventPublisher(settings.kafka_bootstrap, client_id="agora-events")
        relay = LeasedOutboxRelay(db, publisher, poll_interval=settings.outbox_poll_interval)
        ctx = Ctx(settings=settings, client=client, db=db, topic=topic,
                  signing_key=await load_signing_key(settings, db), relay=relay)
        app.state.ctx = ctx
        await relay.start()
        consumers: list = []
        consumer_task = (
            asyncio.create_task(run_when_broker_answers(lambda: users_consumer(ctx), consumers))
            if settings.consume_users else None
        )
        try:
            yield
        finally:
            for task in (consumer_task, topics_task):
                if task:
                    task.cancel()
            for consumer in consumers:
                await consumer.stop()
            await relay.stop()
            await publisher.stop()
            await client.close()

    async def database(app: FastAPI) -> None:
        await ping(app.state.ctx.db)

    return create_web_app(
        settings=settings,
        title="Agora events",
        description="Community events: Q&A sessions, live streams, meetups, peer exchanges, trainings with exams "
        "and certificates, competitions. Registration with waitlist, check-in, calendars, attendance figures.",
        routers=[series.router, certificates.router, registrations.mine_router, events.router, registrations.router, exams.router,
                 competitions.router],
        lifespan=lifespan,
        readiness_checks=[database],
    )

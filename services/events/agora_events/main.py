"""The events service: community events from registration to certificate."""

import logging
from contextlib import asynccontextmanager

from agora_common.kafka import EventPublisher, SupervisedConsumer
from agora_common.lifecycle import shut_down
from agora_common.mongo import make_client, ping
from agora_common.outbox import OutboxRelay
from agora_common.topics import Topics
from agora_common.web import create_app as create_web_app
from fastapi import FastAPI

from agora_events.adapters.consumers import users_consumer
from agora_events.adapters.mongo import ensure_indexes
from agora_events.adapters.signing_key import load_signing_key
from agora_events.api.routes import certificates, competitions, events, exams, registrations, series
from agora_events.config import Settings
from agora_events.service.context import Ctx

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        client = make_client(settings)
        db = client[settings.mongo_db]
        await ensure_indexes(db)
        topics = Topics(settings.topic_prefix)
        topic = topics.events
        publisher = EventPublisher(settings.kafka_bootstrap, client_id="agora-events")
        # the relay creates the topics once the broker answers: the service serves requests meanwhile
        relay = OutboxRelay(db, publisher, topics=topics.all(), partitions=settings.topic_partitions,
                            poll_interval=settings.outbox_poll_interval)
        ctx = Ctx(settings=settings, client=client, db=db, topic=topic,
                  signing_key=await load_signing_key(settings, db), relay=relay)
        app.state.ctx = ctx
        await relay.start()
        consumer = SupervisedConsumer(lambda: users_consumer(ctx))
        if settings.consume_users:
            consumer.start()
        try:
            yield
        finally:
            await shut_down(("consumer", consumer.stop), ("outbox relay", relay.stop),
                            ("publisher", publisher.stop), ("database client", client.close))

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

"""The users service app: accounts and tokens, profiles, SIGs, honor titles, follows, member segments."""

import logging
from contextlib import asynccontextmanager

from agora_common.errors import error_body
from agora_common.kafka import EventConsumer, EventPublisher, SupervisedConsumer, ensure_topics
from agora_common.lifecycle import shut_down
from agora_common.mongo import make_client, ping
from agora_common.outbox import OutboxRelay
from agora_common.topics import Topics
from agora_common.web import create_app as create_web_app
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure

from agora_users.adapters.hashing import PasswordHasher
from agora_users.adapters.store import Store, ensure_indexes
from agora_users.api import auth, me, segments, sigs, users
from agora_users.config import Settings
from agora_users.service import accounts, activity

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        client = make_client(settings)
        db = client[settings.mongo_db]
        await ensure_indexes(db)
        topics = Topics(settings.topic_prefix)
        publisher = EventPublisher(settings.kafka_bootstrap, client_id=f"{settings.service_name}-outbox")
        relay = OutboxRelay(db, publisher, topics=topics.all(), partitions=settings.topic_partitions,
                            poll_interval=settings.outbox_poll_interval)
        hasher = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost_kib=settings.argon2_memory_cost_kib,
                                parallelism=settings.argon2_parallelism)
        store = Store(settings=settings, client=client, db=db, topics=topics, hasher=hasher, relay=relay)
        app.state.store = store
        await accounts.ensure_bootstrap_operator(store)
        await relay.start()

        async def handle(envelopes) -> None:
            await activity.handle_events(store=store, envelopes=envelopes)

        consumer = SupervisedConsumer(
            lambda: EventConsumer(
                bootstrap=settings.kafka_bootstrap,
                topics=[topics.content, topics.events, topics.users, topics.points],
                group_id=f"{settings.topic_prefix}users.activity",
                dead_letter_topic=topics.dead_letter,
                batch_handler=handle,
            ),
            prepare=lambda: ensure_topics(settings.kafka_bootstrap, topics.all(), partitions=settings.topic_partitions),
        )
        app.state.consumer = consumer
        if settings.consume_events:
            consumer.start()
        try:
            yield
        finally:
            await shut_down(("consumer", consumer.stop), ("outbox relay", relay.stop),
                            ("publisher", publisher.stop), ("database client", client.close))

    async def database(app: FastAPI) -> None:
        await ping(app.state.store.db)

    app = create_web_app(
        settings=settings,
        title="Agora users",
        description="Accounts and tokens, profiles, SIGs, honor titles, follows and member segments.",
        routers=[auth.router, me.router, sigs.router, segments.router, users.router],
        lifespan=lifespan,
        readiness_checks=[database],
    )

    @app.exception_handler(ConnectionFailure)
    async def database_unavailable(request: Request, exc: ConnectionFailure) -> JSONResponse:
        log.warning("database unavailable", extra={"error": str(exc)[:300]})
        return JSONResponse(
            error_body("unavailable", "the database is unavailable; try again shortly",
                       request_id=getattr(request.state, "request_id", None)),
            status_code=503, headers={"Retry-After": "2"},
        )

    return app

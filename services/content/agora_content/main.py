"""The content service's app: Q&A, articles, resources, votes, moderation; events through a transactional outbox."""

import logging
from contextlib import asynccontextmanager

from agora_common.events import Envelope
from agora_common.kafka import EventConsumer, EventPublisher, SupervisedConsumer
from agora_common.lifecycle import shut_down
from agora_common.mongo import make_client, ping
from agora_common.outbox import OutboxRelay
from agora_common.topics import Topics
from agora_common.web import create_app as create_base_app
from fastapi import FastAPI

from agora_content.adapters.store import Store, ensure_indexes
from agora_content.api import articles, moderation, posts, questions, resources
from agora_content.config import Settings
from agora_content.service.members import handle_users_event

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    topics = Topics(settings.topic_prefix)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        client = make_client(settings)
        db = client[settings.mongo_db]
        publisher = EventPublisher(settings.kafka_bootstrap, client_id="content")
        # the relay creates the topics once the broker answers (and again if it restarted empty)
        relay = OutboxRelay(
            db, publisher, topics=topics.all(), partitions=settings.topic_partitions,
            poll_interval=settings.outbox_poll_interval, retry_delay=settings.outbox_retry_delay,
        )
        store = Store(client=client, db=db, topic=topics.content, notify=relay.notify,
                      idempotency_ttl_seconds=settings.idempotency_ttl_seconds)
        await ensure_indexes(store)
        await relay.start()

        async def on_users_event(envelope: Envelope) -> None:
            await handle_users_event(store=store, envelope=envelope)

        users_consumer = SupervisedConsumer(lambda: EventConsumer(
            bootstrap=settings.kafka_bootstrap, topics=[topics.users], group_id=f"{settings.topic_prefix}content",
            dead_letter_topic=topics.dead_letter, handler=on_users_event,
        ))
        if settings.consume_users:
            users_consumer.start()
        app.state.store = store
        app.state.relay = relay
        app.state.users_consumer = users_consumer
        try:
            yield
        finally:
            await shut_down(("users consumer", users_consumer.stop), ("outbox relay", relay.stop),
                            ("publisher", publisher.stop), ("database client", client.close))

    async def database(app: FastAPI) -> None:
        await ping(app.state.store.db)

    return create_base_app(
        settings=settings,
        title="Agora content",
        description="Questions and answers, articles, resources, votes, revisions and moderation. Every change is "
        "published to the content topic through a transactional outbox.",
        routers=[questions.router, articles.router, posts.router, moderation.router, resources.router],
        lifespan=lifespan,
        readiness_checks=[database],
    )

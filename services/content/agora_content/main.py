"""The content service's app: Q&A, articles, resources, votes, moderation; events through a transactional outbox."""

from contextlib import asynccontextmanager

from agora_common.events import Envelope
from agora_common.mongo import ping
from agora_common.runtime import ServiceRuntime
from agora_common.topics import Topics
from agora_common.web import create_app as create_base_app
from fastapi import FastAPI

from agora_content.adapters.store import Store, ensure_indexes
from agora_content.api import articles, moderation, posts, questions, resources
from agora_content.config import Settings
from agora_content.service.members import handle_users_event


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    topics = Topics(settings.topic_prefix)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with ServiceRuntime(settings, topic=topics.content) as runtime:
            store = Store(db=runtime.db, transactions=runtime.transactions,
                          idempotency_ttl_seconds=settings.idempotency_ttl_seconds)
            await ensure_indexes(store)

            async def on_users_event(envelope: Envelope) -> None:
                await handle_users_event(store=store, envelope=envelope)

            runtime.consume("members", topics=[topics.users], handler=on_users_event, enabled=settings.consume_users)
            await runtime.start()
            app.state.store = store
            app.state.runtime = runtime
            yield

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

"""The content service's app: Q&A, articles, resources, votes, moderation; events through a transactional outbox."""

from functools import partial

from agora_common.runtime import ServiceRuntime, create_service_app
from agora_common.topics import Topics
from fastapi import FastAPI

from agora_content.adapters.store import Store, ensure_indexes
from agora_content.api import articles, experts, moderation, posts, questions, resources
from agora_content.config import Settings
from agora_content.service.members import handle_users_event
from agora_content.service.qa_events import handle_events_event


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    topics = Topics(settings.topic_prefix)

    async def setup(app: FastAPI, runtime: ServiceRuntime) -> None:
        app.state.store = store = Store(db=runtime.db, transactions=runtime.transactions,
                                        idempotency_ttl_seconds=settings.idempotency_ttl_seconds)
        await ensure_indexes(store)
        # suspended and deleted members may no longer post; names, titles and SIG tags for the expert lists
        runtime.consume("members", topics=[topics.users], handler=partial(handle_users_event, store=store),
                        enabled=settings.consume_users)
        # online Q&A sessions, which questions may be asked in
        runtime.consume("qa-events", topics=[topics.events], handler=partial(handle_events_event, store=store),
                        enabled=settings.consume_events)

    return create_service_app(
        settings, topic=topics.content, setup=setup,
        title="Agora content",
        description="Questions and answers, articles, resources, votes, revisions and moderation. Every change is "
        "published to the content topic through a transactional outbox.",
        routers=[questions.router, articles.router, posts.router, moderation.router, resources.router,
                 experts.router],
    )

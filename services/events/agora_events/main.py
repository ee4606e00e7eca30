"""The events service: community events from registration to certificate."""

from functools import partial

from agora_common.runtime import ServiceRuntime, create_service_app
from agora_common.topics import Topics
from fastapi import FastAPI

from agora_events.adapters.consumers import handle_users_event
from agora_events.adapters.mongo import ensure_indexes
from agora_events.adapters.signing_key import load_signing_key
from agora_events.api.routes import certificates, competitions, events, exams, registrations, series
from agora_events.config import Settings
from agora_events.service.context import Ctx


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    topics = Topics(settings.topic_prefix)

    async def setup(app: FastAPI, runtime: ServiceRuntime) -> None:
        await ensure_indexes(runtime.db)
        app.state.ctx = ctx = Ctx(settings=settings, db=runtime.db, transactions=runtime.transactions,
                                  signing_key=await load_signing_key(settings, runtime.db))
        # deleted accounts give back their places
        runtime.consume("members", topics=[topics.users], handler=partial(handle_users_event, ctx=ctx),
                        enabled=settings.consume_users)

    return create_service_app(
        settings, topic=topics.events, setup=setup,
        title="Agora events",
        description="Community events: Q&A sessions, live streams, meetups, peer exchanges, trainings with exams "
        "and certificates, competitions. Registration with waitlist, check-in, calendars, attendance figures.",
        routers=[series.router, certificates.router, registrations.mine_router, events.router, registrations.router,
                 exams.router, competitions.router],
    )

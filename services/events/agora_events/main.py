"""The events service: community events from registration to certificate."""

from contextlib import asynccontextmanager

from agora_common.events import Envelope
from agora_common.mongo import ping
from agora_common.runtime import ServiceRuntime
from agora_common.topics import Topics
from agora_common.web import create_app as create_web_app
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

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with ServiceRuntime(settings, topic=topics.events) as runtime:
            await ensure_indexes(runtime.db)
            ctx = Ctx(settings=settings, db=runtime.db, transactions=runtime.transactions,
                      signing_key=await load_signing_key(settings, runtime.db))

            async def on_users_event(envelope: Envelope) -> None:
                await handle_users_event(ctx, envelope)

            runtime.consume("members", topics=[topics.users], handler=on_users_event, enabled=settings.consume_users)
            await runtime.start()
            app.state.ctx = ctx
            app.state.runtime = runtime
            yield

    async def database(app: FastAPI) -> None:
        await ping(app.state.ctx.db)

    return create_web_app(
        settings=settings,
        title="Agora events",
        description="Community events: Q&A sessions, live streams, meetups, peer exchanges, trainings with exams "
        "and certificates, competitions. Registration with waitlist, check-in, calendars, attendance figures.",
        routers=[series.router, certificates.router, registrations.mine_router, events.router, registrations.router,
                 exams.router, competitions.router],
        lifespan=lifespan,
        readiness_checks=[database],
    )

"""The users service app: accounts and tokens, profiles, SIGs, honor titles, follows, member segments."""

from contextlib import asynccontextmanager

from agora_common.mongo import ping
from agora_common.runtime import ServiceRuntime
from agora_common.topics import Topics
from agora_common.web import create_app as create_web_app
from fastapi import FastAPI

from agora_users.adapters.hashing import PasswordHasher
from agora_users.adapters.store import Store, ensure_indexes
from agora_users.api import auth, me, segments, sigs, users
from agora_users.config import Settings
from agora_users.service import accounts, activity


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    topics = Topics(settings.topic_prefix)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with ServiceRuntime(settings, topic=topics.users) as runtime:
            await ensure_indexes(runtime.db)
            hasher = PasswordHasher(time_cost=settings.argon2_time_cost,
                                    memory_cost_kib=settings.argon2_memory_cost_kib,
                                    parallelism=settings.argon2_parallelism)
            store = Store(settings=settings, db=runtime.db, topics=topics, hasher=hasher,
                          transactions=runtime.transactions)
            await accounts.ensure_bootstrap_operator(store)

            async def handle(envelopes) -> None:
                await activity.handle_events(store=store, envelopes=envelopes)

            runtime.consume("activity", topics=[topics.content, topics.events, topics.users, topics.points],
                            batch_handler=handle, enabled=settings.consume_events)
            await runtime.start()
            app.state.store = store
            app.state.runtime = runtime
            yield

    async def database(app: FastAPI) -> None:
        await ping(app.state.store.db)

    return create_web_app(
        settings=settings,
        title="Agora users",
        description="Accounts and tokens, profiles, SIGs, honor titles, follows and member segments.",
        routers=[auth.router, me.router, sigs.router, segments.router, users.router],
        lifespan=lifespan,
        readiness_checks=[database],
    )

"""The users service app: accounts and tokens, profiles, SIGs, honor titles, follows, member segments."""

from functools import partial

from agora_common.runtime import ServiceRuntime, create_service_app
from agora_common.topics import Topics
from fastapi import FastAPI

from agora_users.adapters.hashing import PasswordHasher
from agora_users.adapters.store import Store, ensure_indexes
from agora_users.api import auth, me, segments, sigs, users
from agora_users.config import Settings
from agora_users.service import accounts, activity


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    topics = Topics(settings.topic_prefix)

    async def setup(app: FastAPI, runtime: ServiceRuntime) -> None:
        await ensure_indexes(runtime.db)
        hasher = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost_kib=settings.argon2_memory_cost_kib,
                                parallelism=settings.argon2_parallelism)
        app.state.store = store = Store(settings=settings, db=runtime.db, topics=topics, hasher=hasher,
                                        transactions=runtime.transactions)
        await accounts.ensure_bootstrap_operator(store)
        # segments and titles follow what members do everywhere
        runtime.consume("activity", topics=[topics.content, topics.events, topics.users, topics.points],
                        batch_handler=partial(activity.handle_events, store=store), enabled=settings.consume_events)

    return create_service_app(
        settings, topic=topics.users, setup=setup,
        title="Agora users",
        description="Accounts and tokens, profiles, SIGs, honor titles, follows and member segments.",
        routers=[auth.router, me.router, sigs.router, segments.router, users.router],
    )

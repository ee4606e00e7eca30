"""The users service app: accounts and tokens, profiles, SIGs, honor titles, follows, member segments, user groups
and announcements."""

import logging
from functools import partial

from agora_common.runtime import ServiceRuntime, create_service_app
from agora_common.topics import Topics
from fastapi import FastAPI

from agora_users.adapters.hashing import PasswordHasher
from agora_users.adapters.human_check import human_check_from_settings
from agora_users.adapters.mail import mailer_from_settings
from agora_users.adapters.notices import LogNotices
from agora_users.adapters.store import Store, ensure_indexes
from agora_users.api import announcements, auth, groups, inbox, me, segments, sigs, surveys, users
from agora_users.config import Settings
from agora_users.service import accounts, activity, invitations, mail

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    topics = Topics(settings.topic_prefix)

    async def setup(app: FastAPI, runtime: ServiceRuntime) -> None:
        await ensure_indexes(runtime.db)
        hasher = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost_kib=settings.argon2_memory_cost_kib,
                                parallelism=settings.argon2_parallelism)
        app.state.store = store = Store(settings=settings, db=runtime.db, topics=topics, hasher=hasher,
                                        transactions=runtime.transactions,
                                        human_check=human_check_from_settings(settings), notices=LogNotices())
        if settings.human_check == "accept" and settings.environment == "production":
            log.warning("the human check accepts every request (AGORA_HUMAN_CHECK=accept): registration and "
                        "sign-in have no CAPTCHA; set AGORA_HUMAN_CHECK=siteverify")
        await accounts.ensure_bootstrap_operator(store)
        # segments and titles follow what members do everywhere
        runtime.consume("activity", topics=[topics.content, topics.events, topics.users, topics.points],
                        batch_handler=partial(activity.handle_events, store=store), enabled=settings.consume_events)
        # operators' invitations to answer a question, into the invitee's inbox
        runtime.consume("invitations", topics=[topics.content],
                        handler=partial(invitations.handle_content_event, store=store), enabled=settings.consume_events)
        # announcements by mail (off unless AGORA_MAIL_ENABLED)
        if settings.mail_enabled:
            runtime.consume("mail", topics=[topics.users],
                            batch_handler=partial(mail.handle_events, store=store,
                                                  mailer=mailer_from_settings(settings)))

    return create_service_app(
        settings, topic=topics.users, setup=setup,
        title="Agora users",
        description="Accounts and tokens, profiles, SIGs, honor titles, follows, member segments, user groups, "
                    "announcements, surveys and inboxes.",
        routers=[auth.router, me.router, inbox.router, sigs.router, segments.router, groups.router,
                 announcements.router, surveys.router, users.router],
    )

"""Shared helpers for the points integration tests (real broker)."""

import itertools
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from agora_common.events import Envelope
from agora_common.events.content import PostVoted
from agora_common.kafka import EventPublisher
from agora_common.topics import Topics
from agora_points.config import Settings
from agora_points.main import create_app
from agora_testing.waiting import eventually
from asgi_lifespan import LifespanManager

T0 = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)


def wrap(payload, *, at: float = 0, subject: str | None = None, version: int = 1, id: str | None = None) -> Envelope:
    subject = subject or getattr(payload, "post_id", None) or getattr(payload, "user_id", None) or "s"
    return Envelope.wrap(payload, subject=subject, version=version, time=T0 + timedelta(minutes=at), id=id)


def upvote(voter: str, author: str = "alice", post: str = "p1", *, post_type="answer", value=1, tags=(), sig=None,
           at: float = 0, version: int = 1) -> Envelope:
    return wrap(PostVoted(post_id=post, post_type=post_type, author_id=author, tags=list(tags), sig_id=sig,
                          voter_id=voter, value=value, score=1), at=at, version=version)


async def publish(env: dict, envelopes: list[Envelope]) -> None:
    topics = Topics(env["topic_prefix"])
    publisher = EventPublisher(env["kafka_bootstrap"])
    try:
        for e in envelopes:
            await publisher.publish(topics.for_source(e.source), e)
    finally:
        await publisher.stop()


def settings(env: dict, **extra) -> Settings:
    # a fresh instance (consumer group) per app: a restarted app does not wait for the old member to leave
    extra.setdefault("points_instance", f"test-{next(_instances)}")
    return Settings(**env, **extra)


_instances = itertools.count()


class Running:
    """The points app with its lifespan, and an HTTP client on it."""

    def __init__(self, env: dict, **extra) -> None:
        self.settings = settings(env, **extra)
        self.app = create_app(self.settings)

    async def __aenter__(self) -> httpx.AsyncClient:
        self._manager = LifespanManager(self.app, startup_timeout=60, shutdown_timeout=30)
        manager = await self._manager.__aenter__()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test")
        client = await self._client.__aenter__()

        async def ready():
            assert (await client.get("/readyz")).status_code == 200

        await eventually(ready, timeout=60)
        return client

    async def __aexit__(self, *exc) -> None:
        await self._client.__aexit__(*exc)
        await self._manager.__aexit__(*exc)


async def total_is(client: httpx.AsyncClient, user: str, expected: int, timeout: float = 30) -> dict:
    async def check():
        body = (await client.get(f"/api/v1/points/users/{user}")).json()
        assert body["total"] == expected, body
        return body

    return await eventually(check, timeout=timeout)



@pytest.fixture
def h():
    """These helpers as a namespace (importlib import mode: test modules cannot import a conftest)."""
    return sys.modules[__name__]


def auth(env: dict, *roles: str) -> dict:
    from agora_common.auth import issue_token

    token, _ = issue_token(settings(env), user_id="op-" + "-".join(roles), roles=list(roles), kind="access")
    return {"Authorization": f"Bearer {token}"}

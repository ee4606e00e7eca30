"""A content app per test on the shared real servers (own database and topic prefix), and member tokens."""

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from agora_common.auth import issue_token
from agora_common.topics import Topics
from agora_content.config import Settings
from agora_content.main import create_app
from asgi_lifespan import LifespanManager


@pytest.fixture
def settings(agora_env) -> Settings:
    return Settings(**agora_env, outbox_poll_interval=0.1, outbox_retry_delay=0.3, consume_users=False,
                    consume_events=False)


@pytest.fixture
def topics(settings: Settings) -> Topics:
    return Topics(settings.topic_prefix)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator:
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=30):
        yield application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


@pytest.fixture
def auth(settings: Settings) -> Callable[..., dict[str, str]]:
    """auth("alice") -> headers with an access token for user id "alice" (roles default to member)."""

    def headers(user_id: str, *roles: str) -> dict[str, str]:
        token, _ = issue_token(settings, user_id=user_id, roles=list(roles) or ["member"], kind="access")
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture
def ask(client, auth):
    async def _ask(user: str = "alice", *, tags=("kubesphere",), title="How do I install KubeSphere?", **extra):
        r = await client.post("/api/v1/content/questions", headers=auth(user),
                              json={"title": title, "body": "I tried **helm**.", "tags": list(tags), **extra})
        assert r.status_code == 201, r.text
        return r.json()

    return _ask


@pytest.fixture
def answer(client, auth):
    async def _answer(question_id: str, user: str = "bob", body: str = "Use the installer."):
        r = await client.post(f"/api/v1/content/questions/{question_id}/answers", headers=auth(user),
                              json={"body": body})
        assert r.status_code == 201, r.text
        return r.json()

    return _answer

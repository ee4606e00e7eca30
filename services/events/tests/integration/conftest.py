"""An events app per test, on the real MongoDB and Kafka, with an isolated database and topic prefix."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from agora_common.auth import issue_token
from agora_common.topics import Topics
from agora_events.config import Settings
from agora_events.main import create_app
from agora_testing.events import read_events
from asgi_lifespan import LifespanManager


class Api:
    """A test client that can act as any user."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.topic = Topics(settings.topic_prefix).events

    def headers(self, user_id: str, *roles: str) -> dict:
        token, _ = issue_token(self.settings, user_id=user_id, roles=list(roles) or ["member"], kind="access",
                               name=f"User {user_id}")
        return {"Authorization": f"Bearer {token}"}

    def as_user(self, user_id: str, *roles: str) -> dict:
        return {"headers": self.headers(user_id, *roles)}

    @property
    def op(self) -> dict:
        return self.as_user("op-1", "operator")

    async def create_event(self, **fields) -> dict:
        body = {"kind": "meetup", "title": "Kubernetes meetup", "city": "Berlin", "venue": "c-base",
                "starts_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(), "tags": ["k8s"],
                "sig_id": "sig-cloud", **fields}
        r = await self.client.post("/api/v1/events", json=body, **self.op)
        assert r.status_code == 201, r.text
        return r.json()

    async def act(self, event_id: str, *actions: str) -> dict:
        for action in actions:
            r = await self.client.post(f"/api/v1/events/{event_id}/{action}", **self.op)
            assert r.status_code == 200, r.text
        return r.json()

    async def open_event(self, **fields) -> dict:
        event = await self.create_event(**fields)
        return await self.act(event["id"], "publish", "open-registration")

    async def register(self, event_id: str, user_id: str) -> httpx.Response:
        return await self.client.post(f"/api/v1/events/{event_id}/registrations", **self.as_user(user_id))

    async def events(self, until, timeout: float = 20.0):
        """The topic's events, each once: the outbox relay publishes at least once and consumers deduplicate
        by event id (with two instances running, both relays may publish the same entry)."""

        def unique(envelopes):
            seen, out = set(), []
            for e in envelopes:
                if e.id not in seen:
                    seen.add(e.id)
                    out.append(e)
            return out

        raw = await read_events(self.settings.kafka_bootstrap, self.topic, until=lambda es: until(unique(es)),
                                timeout=timeout)
        return unique(raw)


def make_settings(agora_env: dict, **overrides) -> Settings:
    """Test settings; the users-topic consumer only where a test asks for it (a group join costs seconds)."""
    return Settings(**{"outbox_poll_interval": 0.1, "consume_users": False, **agora_env, **overrides})


@pytest.fixture
def settings(agora_env) -> Settings:
    return make_settings(agora_env)


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Api]:
    """One running instance of the service, and a client for it."""
    app = create_app(settings)
    async with LifespanManager(app, shutdown_timeout=30) as manager, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=manager.app), base_url="http://test", timeout=120
    ) as client:
        yield Api(client, settings)


@pytest.fixture
async def api(settings):
    async with serve(settings) as running:
        yield running


@pytest.fixture
async def db(api):
    """The service's own database, to prove what was (not) written."""
    from pymongo import AsyncMongoClient

    client = AsyncMongoClient(api.settings.mongo_url, tz_aware=True)
    yield client[api.settings.mongo_db]
    await client.close()


@pytest.fixture
async def second_api(settings):
    """A second instance of the service on the same database: another process, as far as locking goes."""
    async with serve(settings) as running:
        yield running


@pytest.fixture
async def db_for():
    """db_for(settings): that service database, opened by the test itself."""
    from pymongo import AsyncMongoClient

    clients = []

    def open_db(settings: Settings):
        clients.append(AsyncMongoClient(settings.mongo_url, tz_aware=True))
        return clients[-1][settings.mongo_db]

    yield open_db
    for c in clients:
        await c.close()

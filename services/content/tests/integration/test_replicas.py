"""Two replicas of the service on one database: one outbox relay at a time (a lease), so every event is
published once and in order; when the leader stops, the other replica takes over."""

from collections import Counter

import httpx
import pytest
from agora_content.main import create_app
from agora_testing.events import read_events
from asgi_lifespan import LifespanManager

pytestmark = pytest.mark.servers("kafka", "mongo")

API = "/api/v1/content"


async def test_one_relay_among_replicas_and_takeover(settings, topics, auth):
    first, second = create_app(settings), create_app(settings)
    first_life, second_life = LifespanManager(first, shutdown_timeout=30), LifespanManager(second, shutdown_timeout=30)
    await first_life.__aenter__()
    first_running = True
    try:
        assert await first.state.runtime.relay.holds_lease()  # the first replica leads
        await second_life.__aenter__()
        try:
            assert not await second.state.runtime.relay.holds_lease()
            clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://t")
                       for a in (first, second)]
            q = (await clients[0].post(f"{API}/questions", headers=auth("alice"),
                                       json={"title": "Replicated question", "body": "b", "tags": ["a"]})).json()
            for i in range(6):  # writes through both replicas
                r = await clients[i % 2].put(f"{API}/posts/{q['id']}/vote", headers=auth(f"v{i}"), json={"value": 1})
                assert r.status_code == 200
            await read_events(settings.kafka_bootstrap, topics.content, until=lambda es: len(es) >= 7)

            first_running = False
            await first_life.__aexit__(None, None, None)  # the leader goes away; the second takes over
            r = await clients[1].put(f"{API}/posts/{q['id']}/vote", headers=auth("late"), json={"value": 1})
            assert r.status_code == 200
            events = await read_events(settings.kafka_bootstrap, topics.content, until=lambda es: len(es) >= 8)
            assert await second.state.runtime.relay.holds_lease()
            for c in clients:
                await c.aclose()
        finally:
            await second_life.__aexit__(None, None, None)
    finally:
        if first_running:
            await first_life.__aexit__(None, None, None)
    assert len(events) == 8 and set(Counter(e.id for e in events).values()) == {1}
    assert [e.version for e in events] == list(range(1, 9))  # one post: one partition, in order

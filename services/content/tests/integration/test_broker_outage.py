"""A broker outage during writes: writes still succeed, and once the broker is back every event written
meanwhile arrives exactly once, in version order per post. Uses its own broker (it is stopped mid-test)."""

from collections import Counter

import httpx
import pytest
from agora_common.topics import Topics
from agora_content.config import Settings
from agora_content.main import create_app
from agora_devservers import free_port, start_kafka
from agora_testing.events import read_events
from agora_testing.waiting import eventually
from asgi_lifespan import LifespanManager

pytestmark = pytest.mark.servers("mongo")

API = "/api/v1/content"


async def test_writes_during_a_broker_outage_are_published_once_after_it(agora_env, auth, tmp_path):
    port = free_port()
    broker = start_kafka(port=port, log_dir=tmp_path)
    settings = Settings(**{**agora_env, "kafka_bootstrap": broker.url}, outbox_poll_interval=0.1,
                        outbox_retry_delay=0.3, consume_users=False)
    topic = Topics(settings.topic_prefix).content
    app = create_app(settings)
    try:
        async with (
            LifespanManager(app, startup_timeout=60, shutdown_timeout=30),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        ):
            before = await client.post(f"{API}/questions", headers=auth("alice"),
                                       json={"title": "Before the outage", "body": "b", "tags": ["a"]})
            await read_events(broker.url, topic, until=lambda es: len(es) == 1)

            broker.stop()
            q = (await client.post(f"{API}/questions", headers=auth("alice"),
                                   json={"title": "During the outage", "body": "d", "tags": ["a"]})).json()
            a = await client.post(f"{API}/questions/{q['id']}/answers", headers=auth("bob"), json={"body": "x"})
            assert a.status_code == 201
            for voter in ("v1", "v2", "v3"):
                r = await client.put(f"{API}/posts/{q['id']}/vote", headers=auth(voter), json={"value": 1})
                assert r.status_code == 200
            r = await client.post(f"{API}/questions/{q['id']}/accept", headers=auth("alice"),
                                  json={"answer_id": a.json()["id"]})
            assert r.status_code == 200
            outbox = app.state.store.db["outbox"]
            written = [d["_id"] for d in await outbox.find({"published": False}).to_list()]
            assert len(written) == 6  # asked, answered, 3 votes, accepted: kept, not lost

            broker = start_kafka(port=port, log_dir=tmp_path)  # same address, empty (memory-only) broker
            events = await read_events(broker.url, topic, until=lambda es: len(es) >= 6, timeout=90)

            async def relayed():
                assert await outbox.count_documents({"published": False}) == 0

            await eventually(relayed, timeout=30)
            events = await read_events(broker.url, topic, until=lambda es: False, timeout=2)  # anything extra?
    finally:
        broker.stop()

    counts = Counter(e.id for e in events)
    assert sorted(counts) == sorted(written) and set(counts.values()) == {1}  # each exactly once
    assert before.json()["id"] not in {e.subject for e in events}  # lost with the old broker's memory, as expected
    on_question = [e for e in events if e.subject == q["id"]]
    assert [e.type for e in on_question] == ["QuestionAsked", "PostVoted", "PostVoted", "PostVoted"]
    assert [e.version for e in on_question] == sorted({e.version for e in on_question})
    assert on_question[-1].data["score"] == 3


async def test_boots_and_accepts_writes_while_the_broker_is_down(agora_env, auth, tmp_path):
    port = free_port()  # nothing listens here yet
    settings = Settings(**{**agora_env, "kafka_bootstrap": f"127.0.0.1:{port}"}, outbox_poll_interval=0.1,
                        outbox_retry_delay=0.3, consume_users=True)
    app = create_app(settings)
    broker = None
    try:
        async with (
            LifespanManager(app, startup_timeout=60, shutdown_timeout=30),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        ):
            assert (await client.get("/readyz")).status_code == 200  # ready: only the database is required
            r = await client.post(f"{API}/questions", headers=auth("alice"),
                                   json={"title": "Asked before Kafka", "body": "b", "tags": ["a"]})
            assert r.status_code == 201
            broker = start_kafka(port=port, log_dir=tmp_path)
            topic = Topics(settings.topic_prefix).content
            events = await read_events(broker.url, topic, until=lambda es: len(es) >= 1, timeout=60)
            assert [(e.type, e.subject) for e in events] == [("QuestionAsked", r.json()["id"])]
    finally:
        if broker is not None:
            broker.stop()

"""Writes succeed while the broker is down; their events reach Kafka once it is back (transactional outbox)."""

import pytest
from agora_common.kafka import ensure_topics
from agora_devservers import free_port, start_kafka
from agora_testing.events import read_events
from agora_testing.waiting import eventually

pytestmark = pytest.mark.servers("mongo")


@pytest.fixture
def agora_env(agora_env):
    # a broker address where nothing listens yet: the service must boot and serve anyway
    return {**agora_env, "kafka_bootstrap": f"127.0.0.1:{free_port()}"}


@pytest.mark.consume
async def test_writes_during_broker_outage_are_published_after_recovery(client, signup, app, settings, tmp_path):
    ada = await signup("ada@example.com", "Ada")
    r = await client.patch("/api/v1/users/me", headers=ada["headers"], json={"city": "Lisbon"})
    assert r.status_code == 200
    outbox = app.state.store.db.outbox
    assert await outbox.count_documents({"published": False}) == 2
    assert (await client.get("/readyz")).status_code == 200  # the API's own dependency (MongoDB) is fine

    port = int(settings.kafka_bootstrap.rsplit(":", 1)[1])
    broker = start_kafka(port=port, log_dir=tmp_path)
    try:
        await ensure_topics(settings.kafka_bootstrap, [f"{settings.topic_prefix}users"])

        async def relayed():
            assert await outbox.count_documents({"published": False}) == 0

        await eventually(relayed, timeout=40)
        events = await read_events(settings.kafka_bootstrap, f"{settings.topic_prefix}users",
                                   until=lambda es: len(es) >= 2)
        assert [(e.type, e.version) for e in events] == [("UserRegistered", 1), ("ProfileUpdated", 2)]

        # the segmentation consumer, which could not start at boot, is running now and sees the profile edit
        async def consuming():
            assert app.state.runtime.consumers["activity"].running
            assert await app.state.store.db.activity.find_one({"_id": ada["user"]["id"]})

        await eventually(consuming, timeout=60)
    finally:
        broker.stop()

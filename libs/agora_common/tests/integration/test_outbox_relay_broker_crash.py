"""The outbox relay against a broker that crashes in the middle of a busy publish and comes back empty (the
embedded broker keeps nothing on disk): every entry still reaches the new broker, and the relay keeps going."""

import asyncio
from datetime import UTC, datetime

import pytest
from agora_common.events import Envelope
from agora_common.events.users import UserRegistered
from agora_common.kafka import EventPublisher
from agora_common.mongo import transaction
from agora_common.outbox import COLLECTION, OutboxRelay, append
from agora_common.topics import Topics
from agora_devservers import free_port, start_kafka
from agora_testing.events import read_events
from pymongo import AsyncMongoClient

pytestmark = [pytest.mark.servers("mongo"), pytest.mark.timeout(240)]


def _event(i: int) -> Envelope:
    return Envelope.wrap(
        UserRegistered(user_id=f"u{i}", display_name=f"U{i}", registered_at=datetime.now(UTC)),
        subject=f"u{i}", version=1,
    )


async def test_relay_recovers_after_the_broker_crashes_mid_publish(agora_env, tmp_path):
    port = free_port()
    broker = start_kafka(port=port, log_dir=tmp_path)
    client = AsyncMongoClient(agora_env["mongo_url"], tz_aware=True)
    db = client[agora_env["mongo_db"]]
    topics = Topics(agora_env["topic_prefix"])
    publisher = EventPublisher(broker.url)
    relay = OutboxRelay(db, publisher, topics=topics.all(), poll_interval=0.1, retry_delay=0.2, batch_size=50)
    await relay.start()
    written: list[str] = []

    async def write(n: int) -> None:
        for _ in range(n):
            envelope = _event(len(written))
            async with transaction(client) as session:
                await append(db, session, topics.users, [envelope])
            written.append(envelope.id)
            relay.notify()

    try:
        await write(100)
        broker.proc.kill()  # SIGKILL while the relay is busy
        broker.proc.wait()
        await write(100)  # written during the outage: kept in the outbox
        broker = start_kafka(port=port, log_dir=tmp_path)  # back, and empty
        await write(50)

        for _ in range(600):
            if await db[COLLECTION].count_documents({"published": False}) == 0:
                break
            await asyncio.sleep(0.1)
        assert await db[COLLECTION].count_documents({"published": False}) == 0

        # the new broker has everything written since the crash (what the old one had died with it)
        events = await read_events(broker.url, topics.users, until=lambda evs: len({e.id for e in evs}) >= 150,
                                   timeout=30)
        assert set(written[100:]) <= {e.id for e in events}
    finally:
        await relay.stop()
        await publisher.stop()
        await client.close()
        broker.stop()

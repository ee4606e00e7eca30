"""The outbox backlog the alert reads: the whole count (not one batch) and the age of the oldest entry, measured
also while the broker is away (the relay measures before it publishes)."""

from datetime import UTC, datetime, timedelta

import pytest
from agora_common import metrics
from agora_common.events import Envelope
from agora_common.events.users import UserRegistered
from agora_common.kafka import EventPublisher
from agora_common.outbox import COLLECTION, OutboxRelay
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.servers("mongo")


async def test_backlog_count_and_oldest_age_while_the_broker_is_away(agora_env):
    client = AsyncMongoClient(agora_env["mongo_url"], tz_aware=True)
    db = client[agora_env["mongo_db"]]
    publisher = EventPublisher("127.0.0.1:1")  # nothing listens there: every publish fails
    relay = OutboxRelay(db, publisher, batch_size=2)
    now = datetime.now(UTC)
    try:
        for i in range(5):
            envelope = Envelope.wrap(UserRegistered(user_id=f"u{i}", display_name="U", registered_at=now),
                                     subject=f"u{i}", version=1)
            await db[COLLECTION].insert_one({
                "_id": envelope.id, "topic": "t.users", "subject": envelope.subject, "type": envelope.type,
                "value": envelope.to_bytes().decode(), "published": False,
                "created_at": now - timedelta(minutes=5 - i),  # the first written is the oldest
            })
        with pytest.raises(Exception):  # noqa: B017 - whatever the client raises for a missing broker
            await relay.relay_once()
        assert metrics.OUTBOX_PENDING._value.get() == 5  # all of them, though a batch holds 2
        assert 295 <= metrics.OUTBOX_OLDEST_AGE._value.get() < 330
        await db[COLLECTION].update_many({}, {"$set": {"published": True}})
        assert await relay.relay_once() == 0
        assert metrics.OUTBOX_PENDING._value.get() == 0 and metrics.OUTBOX_OLDEST_AGE._value.get() == 0
    finally:
        await relay.stop()
        await publisher.stop()
        await client.close()

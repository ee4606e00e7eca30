"""One outbox relay at a time per database: the lease is taken, renewed, handed over and taken over."""

import asyncio
from datetime import UTC, datetime

import pytest
from agora_common.kafka import EventPublisher
from agora_common.outbox import LEASE_ID, LEASES, OutboxRelay
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.servers("mongo")


async def test_lease_is_exclusive_handed_over_and_taken_over_when_expired(agora_env):
    client = AsyncMongoClient(agora_env["mongo_url"], tz_aware=True)
    db = client[agora_env["mongo_db"]]
    publisher = EventPublisher("127.0.0.1:1")  # never started: these relays publish nothing here
    a = OutboxRelay(db, publisher, lease_seconds=30)
    b = OutboxRelay(db, publisher, lease_seconds=30)
    try:
        assert await a.holds_lease() is True
        assert await b.holds_lease() is False
        assert await a.holds_lease() is True  # renewal
        await a.stop()  # hands over
        assert await b.holds_lease() is True
        assert await a.holds_lease() is False
        # b dies without handing over: once its lease has expired, a takes over
        await db[LEASES].update_one({"_id": LEASE_ID}, {"$set": {"expires_at": datetime(2000, 1, 1, tzinfo=UTC)}})
        assert await a.holds_lease() is True
        assert await b.holds_lease() is False
    finally:
        await client.close()


async def test_racing_first_claims_give_exactly_one_holder(agora_env):
    """Claims racing to create the lease: one holder, and the holder's own racing calls all say it holds it
    (the loser of the creating upsert, given a duplicate-key error or no document, used to answer 'not mine')."""
    client = AsyncMongoClient(agora_env["mongo_url"], tz_aware=True)
    db = client[agora_env["mongo_db"]]
    publisher = EventPublisher("127.0.0.1:1")
    try:
        for round_ in range(10):
            await db[LEASES].delete_many({})
            a, b = OutboxRelay(db, publisher), OutboxRelay(db, publisher)
            answers = await asyncio.gather(*(r.holds_lease() for r in (a, a, a, b, b, b)))
            holder = a if answers[0] else b
            assert answers.count(True) == 3, (round_, answers)
            assert all(answers[:3]) or all(answers[3:]), (round_, answers)
            assert await holder.holds_lease() is True
    finally:
        await client.close()

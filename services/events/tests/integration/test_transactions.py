"""The unit of work against the real database: a write conflict is retried, and endless contention is a 503."""

import pytest
from agora_events.adapters import mongo
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.servers("mongo")


@pytest.fixture
async def client(agora_env):
    c = AsyncMongoClient(agora_env["mongo_url"], tz_aware=True)
    yield c
    await c.close()


async def test_a_write_conflict_is_retried_until_the_other_writer_is_done(client, agora_env):
    coll = client[agora_env["mongo_db"]]["things"]
    await coll.insert_one({"_id": "x", "n": 0})
    tries = 0

    async with client.start_session() as blocker:
        await blocker.start_transaction()
        await coll.update_one({"_id": "x"}, {"$inc": {"n": 10}}, session=blocker)

        async def work(session):
            nonlocal tries
            tries += 1
            if tries == 3:  # let the other writer finish while we are retrying
                await blocker.commit_transaction()
            await coll.update_one({"_id": "x"}, {"$inc": {"n": 1}}, session=session)

        await mongo.in_transaction(client, work)
    assert tries == 3  # two write conflicts, then the other writer committed and the third try went through
    assert (await coll.find_one({"_id": "x"}))["n"] == 11


async def test_endless_contention_is_a_busy_503(client, agora_env, monkeypatch):
    monkeypatch.setattr(mongo, "MAX_TRANSACTION_TRIES", 3)
    coll = client[agora_env["mongo_db"]]["things"]
    await coll.insert_one({"_id": "y", "n": 0})
    async with client.start_session() as blocker:
        await blocker.start_transaction()
        await coll.update_one({"_id": "y"}, {"$inc": {"n": 10}}, session=blocker)

        async def work(session):
            await coll.update_one({"_id": "y"}, {"$inc": {"n": 1}}, session=session)

        with pytest.raises(mongo.Busy) as err:
            await mongo.in_transaction(client, work)
        assert err.value.status_code == 503
        await blocker.abort_transaction()
    assert (await coll.find_one({"_id": "y"}))["n"] == 0

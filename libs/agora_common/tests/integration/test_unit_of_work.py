"""The one unit of work, against the real database: conflicts re-run the body, endless contention is a 503,
events reach the outbox only with a commit, and a commit whose outcome was unknown is not run twice."""

import asyncio

import pytest
from agora_common import outbox
from agora_common.events.users import UserRegistered
from agora_common.ids import new_id, utcnow
from agora_common.uow import Contention, Transactions, UnitOfWork, WriteConflict
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError, PyMongoError

pytestmark = pytest.mark.servers("mongo")


@pytest.fixture
async def client(agora_env):
    c = AsyncMongoClient(agora_env["mongo_url"], tz_aware=True)
    yield c
    await c.close()


@pytest.fixture
def db(client, agora_env):
    return client[agora_env["mongo_db"]]


@pytest.fixture
def transactions(client, db):
    notified = []
    tx = Transactions(client, db, topic="t.users", notify=lambda: notified.append(1), max_attempts=40)
    tx.notified = notified  # type: ignore[attr-defined]
    return tx


def registered(user_id: str) -> UserRegistered:
    return UserRegistered(user_id=user_id, display_name="Ada", roles=["member"], registered_at=utcnow())


async def test_a_write_conflict_is_retried_until_the_other_writer_is_done(client, db, transactions):
    coll = db["things"]
    await coll.insert_one({"_id": "x", "n": 0})
    tries = 0

    async with client.start_session() as blocker:
        await blocker.start_transaction()
        await coll.update_one({"_id": "x"}, {"$inc": {"n": 10}}, session=blocker)

        async def work(uow: UnitOfWork) -> None:
            nonlocal tries
            tries += 1
            if tries == 3:  # let the other writer finish while we are retrying
                await blocker.commit_transaction()
            await coll.update_one({"_id": "x"}, {"$inc": {"n": 1}}, session=uow.session)

        await transactions.run(work)
    assert tries == 3  # two write conflicts, then the other writer committed and the third try went through
    assert (await coll.find_one({"_id": "x"}))["n"] == 11


async def test_endless_contention_is_a_503_contention_and_writes_nothing(client, db):
    transactions = Transactions(client, db, topic="t.users", max_attempts=3)
    coll = db["things"]
    await coll.insert_one({"_id": "y", "n": 0})
    async with client.start_session() as blocker:
        await blocker.start_transaction()
        await coll.update_one({"_id": "y"}, {"$inc": {"n": 10}}, session=blocker)
        runs = 0

        async def work(uow: UnitOfWork) -> None:
            nonlocal runs
            runs += 1
            uow.emit(registered("u-y"), subject="u-y", version=1, actor=None)
            await coll.update_one({"_id": "y"}, {"$inc": {"n": 1}}, session=uow.session)

        with pytest.raises(Contention) as err:
            await transactions.run(work)
        assert runs == 3
        assert err.value.status_code == 503 and err.value.code == "contention"
        assert err.value.headers == {"Retry-After": "1"}
        await blocker.abort_transaction()
    assert (await coll.find_one({"_id": "y"}))["n"] == 0
    assert await db[outbox.COLLECTION].count_documents({}) == 0


async def test_version_checks_re_run_the_body_from_a_fresh_read(db, transactions):
    await db["posts"].insert_one({"_id": "p", "version": 1, "score": 0})
    stale = {"_id": "p", "version": 1}
    runs = 0

    async def vote(uow: UnitOfWork) -> dict:
        nonlocal runs
        runs += 1
        post = await db["posts"].find_one({"_id": "p"}, session=uow.session)
        if runs == 1:  # someone else changed the post after our read: our version check fails once
            await db["posts"].update_one({"_id": "p"}, {"$inc": {"version": 1, "score": 5}})
            post = stale
        return await uow.update_versioned("posts", post, {"$inc": {"score": 1}})

    after = await transactions.run(vote)
    assert runs == 2 and after["score"] == 6 and after["version"] == 3


async def test_events_reach_the_outbox_with_the_commit_only(db, transactions):
    user_id = new_id()
    await db["users"].insert_one({"_id": user_id, "version": 1})

    async def rename(uow: UnitOfWork) -> dict:
        user = await uow.bump("users", {"_id": user_id}, {"$set": {"name": "Ada"}}, events=2)
        uow.emit_bumped(user, [registered(user_id), registered(user_id)], actor=user_id)
        return user

    user = await transactions.run(rename)
    assert user["version"] == 3 and user["updated_at"] is not None
    entries = await db[outbox.COLLECTION].find({"subject": user_id}).sort("_id", 1).to_list()
    assert [e["topic"] for e in entries] == ["t.users", "t.users"]
    assert transactions.notified == [1]  # the relay was woken once

    async def fails(uow: UnitOfWork) -> None:
        uow.emit(registered(user_id), subject=user_id, version=4, actor=None)
        await db["users"].insert_one({"_id": user_id}, session=uow.session)  # duplicate key: not transient

    with pytest.raises(DuplicateKeyError):
        await transactions.run(fails)
    assert await db[outbox.COLLECTION].count_documents({"subject": user_id}) == 2
    assert transactions.notified == [1]


async def test_a_commit_whose_outcome_was_unknown_is_retried_as_a_commit_not_a_rerun(db, transactions, monkeypatch):
    """The connection drops after the server committed: the body must not run again (a re-run would insert
    a second account, or answer 'email taken' for the account it just created)."""
    real_commit = AsyncClientSession.commit_transaction
    calls = 0

    async def commit_then_lose_the_answer(self):
        nonlocal calls
        calls += 1
        await real_commit(self)
        if calls == 1:
            raise PyMongoError("connection closed before the reply", error_labels=["UnknownTransactionCommitResult"])

    monkeypatch.setattr(AsyncClientSession, "commit_transaction", commit_then_lose_the_answer)
    runs = 0

    async def create(uow: UnitOfWork) -> None:
        nonlocal runs
        runs += 1
        await db["accounts"].insert_one({"_id": new_id(), "email": "ada@example.com"}, session=uow.session)

    await transactions.run(create)
    assert runs == 1 and calls == 2
    assert await db["accounts"].count_documents({"email": "ada@example.com"}) == 1


def test_write_conflict_carries_the_transient_label():
    assert WriteConflict("x").has_error_label("TransientTransactionError")


async def test_units_naming_one_aggregate_queue_instead_of_conflicting(db, transactions):
    """Twelve concurrent votes on one post, each a slow unit (it reads, waits, then writes): together they conflict
    and re-run; naming the post they run one at a time, once each, and every vote counts."""
    await db["posts"].insert_many([{"_id": "hot", "version": 1, "score": 0}, {"_id": "hot2", "version": 1, "score": 0}])

    def vote(post_id: str, runs: list[int]):
        async def body(uow: UnitOfWork) -> dict:
            runs.append(1)
            post = await db["posts"].find_one({"_id": post_id}, session=uow.session)
            await asyncio.sleep(0.02)  # the time a real unit spends between its read and its write
            return await uow.update_versioned("posts", post, {"$inc": {"score": 1}})
        return body

    together: list[int] = []
    await asyncio.gather(*(transactions.run(vote("hot2", together)) for _ in range(12)))
    queued: list[int] = []
    await asyncio.gather(*(transactions.run(vote("hot", queued), one_at_a_time=["post:hot"]) for _ in range(12)))

    assert len(together) > 12  # without the key the units conflicted (the case the key exists for)
    assert len(queued) == 12  # with it, not once
    assert (await db["posts"].find_one({"_id": "hot"}))["score"] == 12
    assert (await db["posts"].find_one({"_id": "hot2"}))["score"] == 12
    assert len(transactions.queues) == 0  # no lock outlives its units


async def test_a_unit_queued_past_the_time_limit_is_a_503_contention_and_runs_nothing(client, db):
    transactions = Transactions(client, db, topic="t.users", time_limit=0.3)
    ran: list[str] = []

    async def slow(uow: UnitOfWork) -> None:
        ran.append("slow")
        await asyncio.sleep(1.0)

    async def quick(uow: UnitOfWork) -> None:
        ran.append("quick")

    first = asyncio.create_task(transactions.run(slow, one_at_a_time=["post:q"]))
    await asyncio.sleep(0.05)
    with pytest.raises(Contention) as err:
        await transactions.run(quick, one_at_a_time=["post:q", "expert:u"])
    assert err.value.status_code == 503 and err.value.details == {"attempts": 0}
    await first
    assert ran == ["slow"]
    assert len(transactions.queues) == 0

"""The users use cases on in-memory fakes (no servers): accounts, sign-in, suspension, and the events each
emits, in milliseconds. Transactions, conflicts and the outbox are the integration tests' part."""

import pytest
from agora_common.errors import Conflict, Forbidden, Unauthorized
from agora_common.topics import Topics
from agora_testing.fakes import FakeTransactions, memory_database
from agora_users.adapters.hashing import PasswordHasher
from agora_users.adapters.store import Store, ensure_indexes
from agora_users.config import Settings
from agora_users.service import accounts, moderation

PASSWORD = "correct horse battery"


@pytest.fixture
async def store() -> Store:
    db = memory_database()
    settings = Settings(argon2_time_cost=1, argon2_memory_cost_kib=8, argon2_parallelism=1)
    store = Store(settings=settings, db=db, topics=Topics(), transactions=FakeTransactions(db),
                  hasher=PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1))
    await ensure_indexes(db)
    return store


class Notices:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def registration_attempted(self, *, user_id: str, client: str) -> None:
        self.sent.append(user_id)


async def test_registration_announces_the_member_and_the_member_signs_in(store):
    assert await accounts.register(store=store, email="Ada@Example.org", password=PASSWORD, display_name="Ada") is None
    session = await accounts.login(store=store, email="ada@example.org", password=PASSWORD)
    assert session.user["email_key"] == "ada@example.org" and session.access_token and session.refresh_token
    (event,) = store.transactions.published
    assert (event.type, event.subject, event.version) == ("UserRegistered", session.user["_id"], 1)


async def test_registering_a_taken_email_tells_its_owner_not_the_caller(store):
    store.notices = notices = Notices()
    await accounts.register(store=store, email="ada@example.org", password=PASSWORD, display_name="Ada")
    assert await accounts.register(store=store, email="ADA@example.org", password="another password",
                                   display_name="Ada 2") is None
    (user,) = await store.db.users.find().to_list()
    assert notices.sent == [user["_id"]] and user["display_name"] == "Ada"
    assert store.transactions.types() == ["UserRegistered"]
    with pytest.raises(Conflict) as err:  # creating an account directly (bootstrap operator) does say so
        await accounts.create_account(store=store, email="ada@example.org", password=PASSWORD, display_name="Ada 3")
    assert err.value.code == "email_taken"


async def test_sign_in_checks_the_password(store):
    await accounts.register(store=store, email="ada@example.org", password=PASSWORD, display_name="Ada")
    assert (await accounts.login(store=store, email="ada@example.org", password=PASSWORD)).user["display_name"] == "Ada"
    with pytest.raises(Unauthorized):
        await accounts.login(store=store, email="ada@example.org", password="wrong password!")


async def test_a_suspended_member_cannot_sign_in_and_the_suspension_is_announced(store):
    ada = await accounts.create_account(store=store, email="ada@example.org", password=PASSWORD, display_name="Ada")
    await moderation.suspend(store=store, user_id=ada["_id"], moderator_id="mod", moderator_roles=["moderator"],
                             reason="spam", until=None)
    assert store.transactions.types() == ["UserRegistered", "UserSuspended"]
    assert store.transactions.published[-1].version == 2
    with pytest.raises(Forbidden) as err:
        await accounts.login(store=store, email="ada@example.org", password=PASSWORD)
    assert err.value.code == "account_suspended"


async def test_each_lock_in_a_row_lasts_twice_as_long(store):
    from agora_common.ids import utcnow
    from agora_users.adapters import store as collections

    store.settings.login_max_failures = 2
    await accounts.register(store=store, email="ada@example.org", password=PASSWORD, display_name="Ada")
    locks = store.db[collections.LOGIN_FAILURES]
    waits = []
    for _ in range(3):
        for _ in range(2):
            with pytest.raises(Unauthorized):
                await accounts.login(store=store, email="ada@example.org", password="wrong password!", client="c1")
        lock = await locks.find_one({"_id": "pair:ada@example.org|c1"})
        waits.append(round((lock["locked_until"] - utcnow()).total_seconds()))
        await locks.update_one({"_id": lock["_id"]}, {"$set": {"locked_until": utcnow()}})  # the lock ran out
    assert waits == [30, 60, 120]
    # the same account from another client was never locked
    assert (await accounts.login(store=store, email="ada@example.org", password=PASSWORD, client="c2")).user


async def test_the_back_off_outlives_its_lock_and_is_forgotten_after_a_quiet_window(store):
    """The count restarts when a lock ends, but the next lock is still longer: only a whole window without
    failures after a lock forgets the strikes."""
    from datetime import timedelta

    from agora_common.ids import utcnow
    from agora_users.adapters import store as collections

    store.settings.login_max_failures = 2
    locks = store.db[collections.LOGIN_FAILURES]

    async def fail_until_locked() -> dict:
        for _ in range(2):
            with pytest.raises(Unauthorized):
                await accounts.login(store=store, email="bo@example.org", password="wrong password!", client="c1")
        return await locks.find_one({"_id": "pair:bo@example.org|c1"})

    async def let_lock_end(ago: timedelta) -> None:
        await locks.update_one({"_id": "pair:bo@example.org|c1"},
                               {"$set": {"locked_until": utcnow() - ago, "first_at": utcnow() - ago}})

    first = await fail_until_locked()
    assert first["strikes"] == 1
    await let_lock_end(timedelta(seconds=1))
    assert (await fail_until_locked())["strikes"] == 2  # a lock in a row: twice as long
    await let_lock_end(timedelta(seconds=store.settings.login_failure_window_seconds + 1))
    assert (await fail_until_locked())["strikes"] == 1  # quiet for a window: forgotten
    assert await locks.count_documents({"_id": {"$in": ["account:bo@example.org", "client:c1"]}}) == 2

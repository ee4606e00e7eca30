"""MongoDB collections of the users service and their indexes."""

from dataclasses import dataclass

from agora_common import outbox, uow
from agora_common.topics import Topics
from agora_common.uow import Transactions
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from agora_users.adapters.hashing import PasswordHasher
from agora_users.config import Settings

USERS = "users"
REFRESH_TOKENS = "refresh_tokens"
LOGIN_FAILURES = "login_failures"
SIGS = "sigs"
SIG_MEMBERS = "sig_members"
TITLE_AUDIT = "title_audit"
FOLLOWS = "follows"
PROCESSED_EVENTS = uow.PROCESSED_EVENTS  # what the activity consumer applied (kernel record)
ACTIVITY = "activity"
ACTIVITY_DAYS = "activity_days"


@dataclass
class Store:
    """Everything a use case needs to read and write: passed to every service function as `store`."""

    settings: Settings
    db: AsyncDatabase
    topics: Topics
    hasher: PasswordHasher
    transactions: Transactions  # every change: store.transactions.run(body) with body(uow: UnitOfWork)

    def __getitem__(self, name: str):
        return self.db[name]


async def ensure_indexes(db: AsyncDatabase) -> None:
    # sparse: deleted accounts drop their email key, so the address can be registered again
    await db[USERS].create_index("email_key", unique=True, sparse=True)
    await db[USERS].create_index([("status", ASCENDING)])
    # the operators' directory filters
    await db[USERS].create_index([("industry", ASCENDING), ("_id", ASCENDING)], sparse=True)
    await db[USERS].create_index([("skills", ASCENDING), ("_id", ASCENDING)])
    await db[USERS].create_index([("titles.key", ASCENDING), ("_id", ASCENDING)])
    await db[REFRESH_TOKENS].create_index([("family", ASCENDING)])
    await db[REFRESH_TOKENS].create_index([("user_id", ASCENDING)])
    await db[SIGS].create_index("slug", unique=True)
    await db[SIG_MEMBERS].create_index([("user_id", ASCENDING)])
    await db[SIG_MEMBERS].create_index([("sig_id", ASCENDING), ("joined_at", ASCENDING)])
    await db[TITLE_AUDIT].create_index([("user_id", ASCENDING), ("at", DESCENDING)])
    await db[FOLLOWS].create_index([("follower_id", ASCENDING), ("kind", ASCENDING)])
    await db[FOLLOWS].create_index([("kind", ASCENDING), ("target", ASCENDING)])
    await db[ACTIVITY].create_index([("last_action_at", DESCENDING)])
    await db[ACTIVITY].create_index([("contributor", ASCENDING)])
    await db[ACTIVITY_DAYS].create_index([("day", ASCENDING), ("user_id", ASCENDING)])
    await outbox.ensure_indexes(db)

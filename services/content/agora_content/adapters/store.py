"""The service's MongoDB collections and indexes, and the handle every use case receives."""

from dataclasses import dataclass
from datetime import UTC, datetime

from agora_common import idempotency, outbox
from agora_common.uow import Transactions
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase


def now() -> datetime:
    """Current time at BSON (millisecond) precision, so a stored value equals the one we keep in memory."""
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


@dataclass
class Store:
    db: AsyncDatabase
    transactions: Transactions  # every change: store.transactions.run(body) with body(work: UnitOfWork)
    idempotency_ttl_seconds: int = 24 * 3600

    @property
    def posts(self):
        return self.db["posts"]

    @property
    def revisions(self):
        return self.db["revisions"]

    @property
    def votes(self):
        return self.db["votes"]

    @property
    def flags(self):
        return self.db["flags"]

    @property
    def resources(self):
        return self.db["resources"]

    @property
    def expertise(self):
        """Per member and scope (a tag or a SIG): what their answers there add up to (service/expertise.py)."""
        return self.db["expertise"]

    @property
    def sigs(self):
        """The SIGs and their tags, as learnt from the users topic."""
        return self.db["sigs"]


async def ensure_indexes(store: Store) -> None:
    await outbox.ensure_indexes(store.db)
    p = store.posts
    await p.create_index([("type", ASCENDING), ("tags", ASCENDING), ("_id", DESCENDING)])
    await p.create_index([("type", ASCENDING), ("score", DESCENDING), ("_id", DESCENDING)])
    await p.create_index([("type", ASCENDING), ("last_activity_at", DESCENDING), ("_id", DESCENDING)])
    await p.create_index([("question_id", ASCENDING), ("type", ASCENDING)])
    await p.create_index([("parent_id", ASCENDING), ("type", ASCENDING)])
    await p.create_index([("author_id", ASCENDING)])
    await p.create_index([("event_id", ASCENDING), ("_id", DESCENDING)], sparse=True)
    await p.create_index([("open_flags", DESCENDING)], sparse=True)
    await p.create_index([("sig_id", ASCENDING), ("type", ASCENDING)])
    await store.revisions.create_index([("post_id", ASCENDING), ("revision", ASCENDING)], unique=True)
    await store.flags.create_index([("post_id", ASCENDING), ("flagger_id", ASCENDING), ("status", ASCENDING)])
    await store.resources.create_index([("event_id", ASCENDING), ("_id", DESCENDING)])
    await store.resources.create_index([("tags", ASCENDING), ("_id", DESCENDING)])
    e = store.expertise
    await e.create_index([("scope", ASCENDING), ("accepted_answers", DESCENDING), ("answer_score", DESCENDING),
                          ("_id", ASCENDING)])
    await e.create_index([("scope", ASCENDING), ("answer_score", DESCENDING), ("accepted_answers", DESCENDING),
                          ("_id", ASCENDING)])
    await e.create_index([("scope", ASCENDING), ("median_first_answer_seconds", ASCENDING),
                          ("first_answers", DESCENDING), ("_id", ASCENDING)])
    await e.create_index([("scope", ASCENDING), ("last_active_at", DESCENDING), ("_id", ASCENDING)])
    await e.create_index([("user_id", ASCENDING)])
    await store.sigs.create_index([("tags", ASCENDING)])
    await idempotency.ensure_indexes(store.db, ttl_seconds=store.idempotency_ttl_seconds)

"""MongoDB collections, indexes, and the unit of work every change goes through."""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from agora_common import outbox
from agora_common.errors import AgoraError
from agora_common.mongo import transaction
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from agora_events import metrics

log = logging.getLogger(__name__)
T = TypeVar("T")

EVENTS = "events"
SERIES = "series"
REGISTRATIONS = "registrations"
EXAMS = "exams"
ATTEMPTS = "attempts"
CERTIFICATES = "certificates"
SUBMISSIONS = "submissions"
SCORES = "scores"
SERVICE_KEYS = "service_keys"

MAX_TRANSACTION_TRIES = 60


class Busy(AgoraError):
    """Still conflicting after every retry: tell the client to come back rather than fail with a 500."""

    status_code = 503
    code = "busy"


async def ensure_indexes(db: AsyncDatabase) -> None:
    await outbox.ensure_indexes(db)
    await db[EVENTS].create_index([("status", ASCENDING), ("starts_at", ASCENDING)])
    await db[EVENTS].create_index([("series_id", ASCENDING), ("starts_at", ASCENDING)])
    regs = db[REGISTRATIONS]
    # one active (confirmed or waitlisted) registration per user and event; cancelled ones drop the key
    await regs.create_index("active_key", unique=True, sparse=True)
    await regs.create_index("checkin_code", unique=True)
    await regs.create_index([("event_id", ASCENDING), ("status", ASCENDING), ("seq", ASCENDING)])
    await regs.create_index([("user_id", ASCENDING), ("event_id", ASCENDING)])
    await db[ATTEMPTS].create_index([("event_id", ASCENDING), ("user_id", ASCENDING)])
    await db[ATTEMPTS].create_index("open_key", unique=True, sparse=True)
    await db[CERTIFICATES].create_index([("event_id", ASCENDING), ("user_id", ASCENDING)], unique=True)
    await db[SUBMISSIONS].create_index([("event_id", ASCENDING), ("user_id", ASCENDING)], unique=True)
    await db[SCORES].create_index([("submission_id", ASCENDING), ("judge_id", ASCENDING)], unique=True)
    await db[SCORES].create_index("event_id")


class EventLocks:
    """One asyncio lock per community event, within this process.

    Correctness never depends on it (the database transaction does that), but changes to one event all touch
    its document; letting them queue here instead of failing with write conflicts and retrying makes a rush of
    registrations about 40x faster on a single instance.
    """

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    async def run(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                return await fn()
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]


async def in_transaction(client: AsyncMongoClient, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
    """Run `work` in a transaction; run it again on a write conflict (another writer changed the same document).

    `work` must do all its reads through the session, so that each try sees a consistent snapshot.
    Any other exception aborts the transaction: nothing of it is written.
    """
    delay = 0.004
    for attempt in range(1, MAX_TRANSACTION_TRIES + 1):
        try:
            async with transaction(client) as session:
                return await work(session)
        except PyMongoError as exc:
            if not exc.has_error_label("TransientTransactionError"):
                raise
            if attempt == MAX_TRANSACTION_TRIES:
                raise Busy("too many concurrent changes to this event; please retry") from exc
            metrics.TRANSACTION_RETRIES.inc()
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, 0.2)
    raise AssertionError("unreachable")

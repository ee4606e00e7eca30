"""The unit of work: one MongoDB transaction that holds a use case's writes, its aggregate's new version and the
events it publishes (transactional outbox). Every service changes state this way and no other.

    async def accept(uow: UnitOfWork) -> dict:
        post = await uow.update_versioned(db.posts, post, {"$set": {"accepted": True}})   # re-run if it moved
        uow.emit(AnswerAccepted(...), subject=post["_id"], version=post["version"], actor=user.id)
        return post

    post = await transactions.run(accept)

Retries come from pymongo's `with_transaction`: a write conflict (TransientTransactionError) re-runs the whole
body after a jittered exponential backoff; a commit whose outcome is unknown (UnknownTransactionCommitResult) is
retried as a commit only, so a body that in fact committed is never run twice (no duplicate, no false
"email taken"). A conflict the application detects itself (a version check, a unique insert that lost a race)
raises `WriteConflict`, which carries the same label. After `max_attempts` runs or `time_limit` seconds the
client gets the one contention answer: 503 `contention` with `Retry-After`.

A unit that changes a hot aggregate (a popular answer's votes, an expert's per-tag counts) names it:
`run(body, one_at_a_time=["post:ID"])`. Units naming a common key run one after another in this process instead
of together: concurrent writers of one document would only conflict, and under load each re-run meets the next
writer again (seen as 17-22 re-runs and a 503 for a vote on two shared cores). Replicas still conflict with each
other and re-run as above; the keys only turn the conflicts one process would have with itself into a queue.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from typing import ClassVar, TypeVar

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from agora_common import metrics, outbox
from agora_common.errors import AgoraError
from agora_common.events import DomainEvent, Envelope
from agora_common.ids import utcnow

T = TypeVar("T")
Body = Callable[["UnitOfWork"], Awaitable[T]]

TRANSIENT = "TransientTransactionError"
PROCESSED_EVENTS = "processed_events"  # event ids a consumer applied, in the consuming service's database


class WriteConflict(PyMongoError):
    """The unit of work lost a race it detected itself: run it again from a fresh read."""

    def __init__(self, message: str = "write conflict") -> None:
        super().__init__(message, error_labels=[TRANSIENT])


class Contention(AgoraError):
    """Still conflicting after every retry, or queued past the time limit: the client should try again shortly
    (503 with Retry-After)."""

    status_code = 503
    code = "contention"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "1"}

    @classmethod
    def given_up(cls, *, attempts: int) -> "Contention":
        """A unit given up after `attempts` runs (0: it waited its whole time limit in a queue), counted."""
        metrics.TRANSACTIONS_CONTENDED.inc()
        return cls("too many concurrent changes; try again shortly", details={"attempts": attempts})


class UnitOfWork:
    """What one run of a body writes with: the session for every read and write, and the events to commit."""

    def __init__(self, db: AsyncDatabase, session: AsyncClientSession) -> None:
        self.db = db
        self.session = session
        self.envelopes: list[Envelope] = []

    def emit(
        self, event: DomainEvent | Envelope, *, subject: str | None = None, version: int | None = None,
        actor: str | None = None,
    ) -> None:
        """Publish `event` when the transaction commits; a bare event is wrapped with its aggregate's id and
        version (an envelope built elsewhere is taken as it is)."""
        if isinstance(event, Envelope):
            self.envelopes.append(event)
            return
        if subject is None or version is None:
            raise TypeError("emit needs the aggregate's subject and version")
        self.envelopes.append(Envelope.wrap(event, subject=subject, version=version, actor=actor))

    async def bump(
        self, collection: str | AsyncCollection, query: dict, update: dict | None = None, *, events: int = 1
    ) -> dict | None:
        """Apply `update` to the aggregate matching `query`, raise its version by `events` (the versions of the
        events this change will emit) and return it as it is after, or None if nothing matched.

        Concurrent changes of one aggregate both write its version, so the database makes one of them conflict
        and re-run: versions never repeat.
        """
        update = dict(update or {})
        update["$set"] = {**update.get("$set", {}), "updated_at": utcnow()}
        update["$inc"] = {**update.get("$inc", {}), "version": events}
        return await self._collection(collection).find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER, session=self.session
        )

    async def update_versioned(self, collection: str | AsyncCollection, doc: dict, update: dict) -> dict:
        """Apply `update` to `doc` only if its version is still the one read (optimistic concurrency); returns
        it with version + 1. A concurrent change raises `WriteConflict`: the unit re-runs from a fresh read."""
        update = {**update, "$inc": {**update.get("$inc", {}), "version": 1}}
        new = await self._collection(collection).find_one_and_update(
            {"_id": doc["_id"], "version": doc["version"]}, update, session=self.session,
            return_document=ReturnDocument.AFTER,
        )
        if new is None:
            raise WriteConflict(f"{doc['_id']} changed since it was read")
        return new

    def emit_bumped(self, doc: dict, events: list[DomainEvent], *, actor: str | None) -> None:
        """Emit `events` with the versions a `bump(..., events=len(events))` reserved (the last is doc's)."""
        first = doc["version"] - len(events) + 1
        for i, event in enumerate(events):
            self.emit(event, subject=doc["_id"], version=first + i, actor=actor)

    async def first_seen(self, consumer: str, envelopes: list[Envelope]) -> list[Envelope]:
        """The envelopes not applied before, recorded as applied in this unit of work: the one record of what a
        consumer that applies each event once has processed (a replay or a duplicate finds them recorded)."""
        ids = list({e.id for e in envelopes})
        done = {d["_id"] for d in await self.db[PROCESSED_EVENTS].find(
            {"_id": {"$in": ids}}, {"_id": 1}, session=self.session).to_list()}  # look first: a failed insert
        fresh = list({e.id: e for e in envelopes if e.id not in done}.values())  # would abort the transaction
        if fresh:
            now = utcnow()
            await self.db[PROCESSED_EVENTS].insert_many(
                [{"_id": e.id, "type": e.type, "consumer": consumer, "at": now} for e in fresh], session=self.session)
        return fresh

    def _collection(self, collection: str | AsyncCollection) -> AsyncCollection:
        return self.db[collection] if isinstance(collection, str) else collection


class KeyedLocks:
    """One asyncio lock per key, kept only while someone holds or waits for it (keys are aggregate ids: a map
    of every key ever used would grow with the community)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # key -> (lock, holders and waiters)

    @asynccontextmanager
    async def hold(self, keys: Collection[str], *, timeout: float) -> AsyncIterator[None]:
        """Hold every key's lock; waiting longer than `timeout` seconds is contention (503)."""
        started = time.monotonic()
        counted: list[str] = []  # keys this caller holds or waits for
        held: list[str] = []
        try:
            for key in sorted(set(keys)):  # one order for every caller: two callers never wait on each other
                lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
                self._locks[key] = (lock, users + 1)
                counted.append(key)
                try:
                    async with asyncio.timeout(timeout - (time.monotonic() - started)):
                        await lock.acquire()  # FIFO; a wait cut short leaves the lock as it was
                except TimeoutError:
                    raise Contention.given_up(attempts=0) from None
                held.append(key)
            yield
        finally:
            for key in held:
                self._locks[key][0].release()
            for key in counted:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class Transactions:
    """Runs units of work against one service database, appending their events to its outbox for `topic`."""

    def __init__(
        self, client: AsyncMongoClient, db: AsyncDatabase, *, topic: str,
        notify: Callable[[], None] = lambda: None, max_attempts: int = 40, time_limit: float = 10.0,
    ) -> None:
        self.client = client
        self.db = db
        self.topic = topic
        self.notify = notify  # wakes the outbox relay after a commit that carried events
        self.max_attempts = max_attempts
        self.time_limit = time_limit  # well under the gateway's timeout, so the client gets an answer
        self.queues = KeyedLocks()  # units of one aggregate, one at a time (`run(..., one_at_a_time=...)`)

    async def run(self, body: Body[T], *, one_at_a_time: Collection[str] = ()) -> T:
        """Run `body` in a transaction, again on a conflict; after any other unit naming one of the keys in
        `one_at_a_time` that this process runs (see the module's docstring)."""
        started = time.monotonic()
        async with self.queues.hold(one_at_a_time, timeout=self.time_limit):
            return await self._run(body, started)

    async def _run(self, body: Body[T], started: float) -> T:
        attempts = 0
        emitted = False

        async def once(session: AsyncClientSession) -> T:
            nonlocal attempts, emitted
            attempts += 1
            if attempts > 1:
                metrics.TRANSACTION_RETRIES.inc()
                if attempts > self.max_attempts or time.monotonic() - started > self.time_limit:
                    raise Contention.given_up(attempts=attempts - 1)
            uow = UnitOfWork(self.db, session)
            result = await body(uow)
            await outbox.append(self.db, session, self.topic, uow.envelopes)
            emitted = bool(uow.envelopes)
            return result

        async with self.client.start_session() as session:
            result = await session.with_transaction(once)
        if emitted:
            self.notify()
        return result


def is_transient(exc: BaseException) -> bool:
    """A conflict that running the same unit of work again can resolve."""
    return isinstance(exc, PyMongoError) and exc.has_error_label(TRANSIENT)


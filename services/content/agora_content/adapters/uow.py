"""Unit of work: one MongoDB transaction holding a state change and its outbox entries, retried on conflict.

Optimistic concurrency: writers update a document only if its `version` is still the one they read
(`VersionConflict` otherwise); the database also aborts one of two transactions writing the same document
(TransientTransactionError). Either way the whole unit is re-run from a fresh read, so concurrent accepts or
votes never both win and never lose an update.
"""

import asyncio
import hashlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from agora_common import outbox
from agora_common.errors import Conflict, InvalidInput
from agora_common.events import Envelope
from agora_common.mongo import transaction
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError, PyMongoError

from agora_content.adapters.store import Store, now

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ATTEMPTS = 40  # enough for dozens of members voting on one post at the same moment


class VersionConflict(Exception):
    """The document changed since it was read: re-run the unit of work."""


class Retry(Exception):
    """Raised by a unit of work that lost a race (e.g. a unique-key insert): re-run it."""


class Work:
    """What a unit of work collects while it runs: the session and the events to commit with the state."""

    def __init__(self, session: AsyncClientSession) -> None:
        self.session = session
        self.events: list[Envelope] = []

    def emit(self, envelope: Envelope) -> None:
        self.events.append(envelope)


async def update_versioned(collection, doc: dict, update: dict, work: Work) -> dict:
    """Apply `update` to doc only if its version is unchanged; returns the new document (version + 1)."""
    update = {**update, "$inc": {**update.get("$inc", {}), "version": 1}}
    new = await collection.find_one_and_update(
        {"_id": doc["_id"], "version": doc["version"]}, update, session=work.session,
        return_document=ReturnDocument.AFTER,
    )
    if new is None:
        raise VersionConflict(doc["_id"])
    return new


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, (VersionConflict, Retry)):
        return True
    if isinstance(exc, PyMongoError):
        return exc.has_error_label("TransientTransactionError") or exc.has_error_label("UnknownTransactionCommitResult")
    return False


async def run(store: Store, body: Callable[[Work], Awaitable[T]]) -> T:
    """Run `body` in a transaction with its events appended to the outbox; re-run it on conflicts."""
    for attempt in range(MAX_ATTEMPTS):
        try:
            async with transaction(store.client) as session:
                work = Work(session)
                result = await body(work)
                await outbox.append(store.db, session, store.topic, work.events)
            if work.events:
                store.notify()
            return result
        except Exception as exc:
            if not _retryable(exc):
                raise
            # jittered exponential backoff: contenders spread out instead of colliding again
            await asyncio.sleep(random.uniform(0, min(0.25, 0.004 * 2**attempt)))
    raise Conflict("too many concurrent changes to this post; try again", code="contention")


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


async def create_once(
    store: Store,
    *,
    user_id: str,
    scope: str,
    key: str | None,
    payload: Any,
    body: Callable[[Work], Awaitable[str]],
) -> tuple[str, bool]:
    """Run a creating unit of work at most once per (user, scope, Idempotency-Key).

    Returns (resource id, replayed). The key is stored in the same transaction as the resource, so two
    concurrent retries cannot both create one: the loser's insert of the key fails and it returns the winner's.
    A key reused with a different request body is refused.
    """
    if not key:
        return await run(store, body), False
    if len(key) > 200:
        raise InvalidInput("Idempotency-Key is longer than 200 characters", code="invalid_idempotency_key")
    key_id = f"{user_id}:{scope}:{key}"
    digest = fingerprint(payload)

    async def replay() -> tuple[str, bool] | None:
        seen = await store.idempotency.find_one({"_id": key_id})
        if seen is None:
            return None
        if seen["fingerprint"] != digest:
            raise Conflict("this Idempotency-Key was used with a different request", code="idempotency_key_reused")
        return seen["resource_id"], True

    if (previous := await replay()) is not None:
        return previous

    async def guarded(work: Work) -> str:
        if await store.idempotency.find_one({"_id": key_id}, session=work.session) is not None:
            raise _KeyTaken()  # a concurrent retry committed first (seen when this unit is re-run)
        resource_id = await body(work)
        try:
            await store.idempotency.insert_one(
                {"_id": key_id, "fingerprint": digest, "resource_id": resource_id, "created_at": now()},
                session=work.session,
            )
        except DuplicateKeyError as exc:
            raise _KeyTaken() from exc
        return resource_id

    try:
        return await run(store, guarded), False
    except _KeyTaken:
        pass
    except PyMongoError as exc:
        if not exc.has_error_label("TransientTransactionError"):
            raise
    for _ in range(50):  # the winner may not have committed yet
        if (previous := await replay()) is not None:
            return previous
        await asyncio.sleep(0.02)
    raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_in_progress")


class _KeyTaken(Exception):
    pass

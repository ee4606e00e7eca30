"""Idempotent creation, for every service: a client's retry with the same `Idempotency-Key` header returns the first
result instead of creating the resource twice. A write the gateway timed out on (504) is therefore safe to retry.

    created_id, replayed = await create_once(db=db, run=transactions.run, user_id=user.id, scope="registration:e1",
                                             key=idempotency_key, payload=body, body=create)

The key is stored in the same transaction as the resource, so two concurrent retries cannot both create one: the
loser's insert of the key fails and it returns the winner's. A key reused with a different request is refused (409).
Keys are kept `ttl` seconds (a TTL index; `ensure_indexes`). A replayed answer carries `Idempotent-Replayed: true`
(`replayed_header`).
"""

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Header, Response
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from agora_common.errors import Conflict, InvalidInput
from agora_common.uow import UnitOfWork, is_transient

COLLECTION = "idempotency_keys"
DEFAULT_TTL_SECONDS = 24 * 3600

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200,
           description="Any unique string; a retried request with the same key returns the first result"),
]

REPLAYED_HEADER = "Idempotent-Replayed"

Run = Callable[[Callable[[UnitOfWork], Awaitable[str]]], Awaitable[str]]  # e.g. Transactions.run


def replayed_header(response: Response, replayed: bool) -> None:
    """Mark an answer that replays the first request's result (the client can tell it created nothing new)."""
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"


async def ensure_indexes(db: AsyncDatabase, *, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
    await db[COLLECTION].create_index("created_at", expireAfterSeconds=ttl_seconds)


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


async def create_once(
    *,
    db: AsyncDatabase,
    run: Run,
    user_id: str,
    scope: str,
    key: str | None,
    payload: Any,
    body: Callable[[UnitOfWork], Awaitable[str]],
) -> tuple[str, bool]:
    """Run a creating unit of work (`body`, returning the new resource's id) at most once per (user, scope,
    Idempotency-Key), through `run` (the service's way to run a unit of work). Returns (id, replayed)."""
    if not key:
        return await run(body), False
    if len(key) > 200:
        raise InvalidInput("Idempotency-Key is longer than 200 characters", code="invalid_idempotency_key")
    keys = db[COLLECTION]
    key_id = f"{user_id}:{scope}:{key}"
    digest = fingerprint(payload)

    async def replay() -> tuple[str, bool] | None:
        seen = await keys.find_one({"_id": key_id})
        if seen is None:
            return None
        if seen["fingerprint"] != digest:
            raise Conflict("this Idempotency-Key was used with a different request", code="idempotency_key_reused")
        return seen["resource_id"], True

    if (previous := await replay()) is not None:
        return previous

    async def guarded(work: UnitOfWork) -> str:
        if await keys.find_one({"_id": key_id}, session=work.session) is not None:
            raise _KeyTaken()  # a concurrent retry committed first (seen when this unit is re-run)
        resource_id = await body(work)
        try:
            await keys.insert_one(
                {"_id": key_id, "fingerprint": digest, "resource_id": resource_id, "created_at": datetime.now(UTC)},
                session=work.session,
            )
        except DuplicateKeyError as exc:
            raise _KeyTaken() from exc
        return resource_id

    try:
        return await run(guarded), False
    except _KeyTaken:
        pass
    except PyMongoError as exc:
        if not is_transient(exc):
            raise
    for _ in range(50):  # the winner may not have committed yet
        if (previous := await replay()) is not None:
            return previous
        await asyncio.sleep(0.02)
    raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_in_progress")


class _KeyTaken(Exception):
    pass

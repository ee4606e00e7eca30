"""Idempotent creation: a client's retry with the same Idempotency-Key returns the first result instead of
creating the resource twice (the key is stored in the resource's own unit of work)."""

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from agora_common.errors import Conflict, InvalidInput
from agora_common.uow import UnitOfWork, is_transient
from pymongo.errors import DuplicateKeyError, PyMongoError

from agora_content.adapters.store import Store, now

log = logging.getLogger(__name__)


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


async def create_once(
    store: Store,
    *,
    user_id: str,
    scope: str,
    key: str | None,
    payload: Any,
    body: Callable[[UnitOfWork], Awaitable[str]],
) -> tuple[str, bool]:
    """Run a creating unit of work at most once per (user, scope, Idempotency-Key).

    Returns (resource id, replayed). The key is stored in the same transaction as the resource, so two
    concurrent retries cannot both create one: the loser's insert of the key fails and it returns the winner's.
    A key reused with a different request body is refused.
    """
    if not key:
        return await store.transactions.run(body), False
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

    async def guarded(work: UnitOfWork) -> str:
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
        return await store.transactions.run(guarded), False
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

"""Run a use case's writes and its events in one transaction (transactional outbox), retrying write conflicts."""

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from agora_common import outbox
from agora_common.errors import AgoraError
from agora_common.events import DomainEvent, Envelope
from agora_common.ids import utcnow
from agora_common.mongo import transaction
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

from agora_users.adapters.store import Store

T = TypeVar("T")
MAX_ATTEMPTS = 15  # with the backoff below: up to ~2.5 s of retrying before giving up


class Contention(AgoraError):
    """Too many concurrent changes to one aggregate even after retries: the client should retry later."""

    status_code = 503
    code = "contention"


class Tx:
    """The session to pass to every write, and the events to commit with them."""

    def __init__(self, store: Store, session: AsyncClientSession) -> None:
        self.store = store
        self.session = session
        self.envelopes: list[Envelope] = []

    def emit(self, event: DomainEvent, *, subject: str, version: int, actor: str | None) -> None:
        self.envelopes.append(Envelope.wrap(event, subject=subject, version=version, actor=actor))

    async def bump(self, collection: str, query: dict, update: dict | None = None, *, events: int = 1) -> dict | None:
        """Apply `update` to one aggregate and raise its version by `events`; returns the document after, or None.

        The version increment makes concurrent changes of one aggregate conflict, so versions never repeat.
        """
        update = dict(update or {})
        update.setdefault("$set", {})
        update["$set"] = {**update["$set"], "updated_at": utcnow()}
        update["$inc"] = {**update.get("$inc", {}), "version": events}
        return await self.store.db[collection].find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER, session=self.session
        )


async def atomically(store: Store, work: Callable[[Tx], Awaitable[T]]) -> T:
    """Run `work` in a transaction with its events appended to the outbox; retried on transient conflicts."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with transaction(store.client) as session:
                tx = Tx(store, session)
                result = await work(tx)
                await outbox.append(store.db, session, store.topics.users, tx.envelopes)
        except PyMongoError as exc:
            transient = exc.has_error_label("TransientTransactionError") or exc.has_error_label(
                "UnknownTransactionCommitResult"
            )
            if not transient:
                raise
            if attempt == MAX_ATTEMPTS:
                raise Contention("too many concurrent changes; try again shortly") from exc
            # jittered exponential backoff: contenders spread out instead of colliding again in lockstep
            await asyncio.sleep(random.uniform(0, min(0.25, 0.004 * 2**attempt)))
            continue
        if tx.envelopes and store.relay is not None:
            store.relay.notify()
        return result
    raise AssertionError("unreachable")

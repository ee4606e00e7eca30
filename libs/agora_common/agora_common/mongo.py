"""MongoDB access through PyMongo's native async client, and a unit of work for transactions."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from agora_common import db_timing
from agora_common.settings import ServiceSettings


def make_client(settings: ServiceSettings) -> AsyncMongoClient:
    # the listener feeds the per-request database time reported in the Server-Timing header; the application
    # name tells the database's operators (currentOp, logs) which service a connection belongs to
    return AsyncMongoClient(
        settings.mongo_url, tz_aware=True, serverSelectionTimeoutMS=5_000, event_listeners=[db_timing.LISTENER],
        appname=f"agora-{settings.service_name}",
    )


@asynccontextmanager
async def transaction(client: AsyncMongoClient) -> AsyncIterator[AsyncClientSession]:
    """Commit everything done with the yielded session together, or nothing (on any exception)."""
    async with client.start_session() as session, await session.start_transaction():
        yield session


async def ping(db: AsyncDatabase) -> None:
    try:
        await db.command("ping")
    except PyMongoError as exc:
        raise RuntimeError(f"database unreachable: {exc}") from exc


async def upsert_if_newer(
    collection: AsyncCollection, _id: str, version: int, fields: dict[str, Any], *, also: dict[str, Any] | None = None
) -> bool:
    """A projection of another service's aggregate (a member's standing, a Q&A session): set `fields` unless an event
    of a later version already did, so replays, duplicates and late arrivals change nothing. True if applied.
    `also` adds other idempotent update operators under the same guard (`{"$addToSet": {"titles": t}}`)."""
    try:
        result = await collection.update_one(
            {"_id": _id, "$or": [{"version": {"$lte": version}}, {"version": {"$exists": False}}]},
            {**(also or {}), "$set": {**fields, "version": version, "updated_at": datetime.now(UTC)}},
            upsert=True,
        )
    except DuplicateKeyError:
        return False  # the filter missed an existing document: it holds a later version
    return result.matched_count > 0 or result.upserted_id is not None


def equals_ignoring_case(value: str) -> dict[str, Any]:
    """A filter for a field equal to `value` in any case ("Shanghai", "shanghai"): a city typed by people."""
    return {"$regex": f"^{re.escape(value)}$", "$options": "i"}

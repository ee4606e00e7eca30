"""MongoDB access through PyMongo's native async client, and a unit of work for transactions."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from agora_common import db_timing
from agora_common.settings import ServiceSettings


def make_client(settings: ServiceSettings) -> AsyncMongoClient:
    # the listener feeds the per-request database time reported in the Server-Timing header
    return AsyncMongoClient(
        settings.mongo_url, tz_aware=True, serverSelectionTimeoutMS=5_000, event_listeners=[db_timing.LISTENER]
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

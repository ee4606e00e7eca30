"""The accounts that were deleted: their content stays searchable, without the link to them.

Kept in a small index of its own (not versioned with the posts indices), so that every write, including a
reindex's replay of old events, can drop a deleted author. Each process keeps the whole list in memory, re-read
every few seconds (one query instead of one per batch); a write that saw a list a few seconds old is corrected
by the second anonymisation pass (service/authors.py). Beyond MEMORY_LIMIT deleted accounts, ids are looked up
per batch instead.
"""

import time
from datetime import UTC, datetime

from elasticsearch import AsyncElasticsearch, BadRequestError, NotFoundError

MEMORY_LIMIT = 10_000
RELOAD_SECONDS = 2.0


class DeletedAuthors:
    def __init__(self, es: AsyncElasticsearch, index: str) -> None:
        self.es = es
        self.index = index
        self._known: set[str] | None = None
        self._loaded_at = 0.0

    async def ensure(self) -> None:
        if await self.es.indices.exists(index=self.index):
            return
        try:
            await self.es.indices.create(
                index=self.index,
                mappings={"dynamic": "strict", "properties": {"user_id": {"type": "keyword"},
                                                              "deleted_at": {"type": "date"}}},
            )
        except BadRequestError as exc:
            if "already_exists" not in str(exc.error):
                raise

    async def add(self, user_id: str, at: datetime | None = None) -> None:
        await self.es.index(index=self.index, id=user_id,
                            document={"user_id": user_id, "deleted_at": (at or datetime.now(UTC)).isoformat()})
        if self._known is not None:
            self._known.add(user_id)

    async def _reload(self) -> None:
        try:
            response = await self.es.search(index=self.index, size=MEMORY_LIMIT, source=False, track_total_hits=True)
        except NotFoundError:
            self._known = set()
        else:
            hits = response["hits"]
            self._known = {h["_id"] for h in hits["hits"]} if hits["total"]["value"] <= MEMORY_LIMIT else None
        self._loaded_at = time.monotonic()

    async def which(self, user_ids: set[str]) -> set[str]:
        """Those of `user_ids` whose account was deleted."""
        if not user_ids:
            return set()
        if time.monotonic() - self._loaded_at > RELOAD_SECONDS:
            await self._reload()
        if self._known is not None:
            return user_ids & self._known
        try:
            response = await self.es.mget(index=self.index, ids=sorted(user_ids), source=False)
        except NotFoundError:
            return set()
        return {d["_id"] for d in response["docs"] if d.get("found")}

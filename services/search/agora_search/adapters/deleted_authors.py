"""The accounts that were deleted: their content stays searchable, without the link to them.

Kept in a small index of its own (not versioned with the posts indices), so that every write, including a
reindex's replay of old events, can drop a deleted author. Reads are by id (realtime, no refresh needed).
"""

from datetime import UTC, datetime

from elasticsearch import AsyncElasticsearch, BadRequestError, NotFoundError


class DeletedAuthors:
    def __init__(self, es: AsyncElasticsearch, index: str) -> None:
        self.es = es
        self.index = index

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

    async def which(self, user_ids: set[str]) -> set[str]:
        """Those of `user_ids` whose account was deleted."""
        if not user_ids:
            return set()
        try:
            response = await self.es.mget(index=self.index, ids=sorted(user_ids), source=False)
        except NotFoundError:
            return set()
        return {d["_id"] for d in response["docs"] if d.get("found")}

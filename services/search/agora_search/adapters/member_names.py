"""Members as the users topic tells them: display names (UserRegistered, ProfileUpdated) and scoped honor titles
(HonorTitleGranted/Revoked with a scope: "tag:kubernetes" marks the community's expert for that tag), so that hits can
name people (the author of a question's accepted answer) and say whose posts come from a tag's experts without
calling the users service.

A small index of its own, like the deleted authors (not versioned with the posts indices: a reindex replays the
content topic only), one document per member. Each write is versioned with the user's aggregate version
(`external_gte`), so a replayed or late event never overwrites a newer state; a deleted account keeps a nameless
tombstone at its deletion's version. A name and a title are parts of one document, so each change reads the member's
document, changes its part and writes it back with the event's version (the users topic is keyed by user, so one
consumer applies a member's events in order; a write that lost to a later one is refused by the version).
Members are looked up when a page of hits is served (one mget), so a renamed member is renamed everywhere at once.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import AsyncElasticsearch, BadRequestError, ConflictError, NotFoundError

TAG_SCOPE = "tag:"
SEP = "|"  # "<scope>|<title>": a scope never contains it (tags are slugs)

PROPERTIES: dict[str, Any] = {"display_name": {"type": "keyword", "index": False},
              "deleted": {"type": "boolean"},
              "scoped_titles": {"type": "keyword", "index": False}}


@dataclass(frozen=True)
class Member:
    display_name: str | None = None
    expert_tags: frozenset[str] = field(default_factory=frozenset)  # tags of the member's "tag:" scoped titles


class MemberNames:
    def __init__(self, es: AsyncElasticsearch, index: str) -> None:
        self.es = es
        self.index = index

    async def ensure(self) -> None:
        if await self.es.indices.exists(index=self.index):
            await self.es.indices.put_mapping(index=self.index, properties=PROPERTIES)  # fields added since
            return
        try:
            await self.es.indices.create(index=self.index, mappings={"dynamic": "strict", "properties": PROPERTIES})
        except BadRequestError as exc:
            if "already_exists" not in str(exc.error):
                raise

    async def _put(self, user_id: str, version: int, document: dict) -> bool:
        try:
            await self.es.index(index=self.index, id=user_id, document=document, version=version,
                                version_type="external_gte")
        except ConflictError:
            return False  # a later event already wrote this member
        return True

    async def _change(self, user_id: str, version: int, change: Callable[[dict[str, Any]], dict[str, Any]]) -> bool:
        try:
            found = await self.es.get(index=self.index, id=user_id)
        except NotFoundError:
            current: dict[str, Any] = {"display_name": None, "deleted": False, "scoped_titles": []}
        else:
            if found["_version"] > version:
                return False  # a later event already wrote this member
            current = found["_source"]
        return await self._put(user_id, version, change(current))

    async def record(self, user_id: str, display_name: str, version: int) -> bool:
        return await self._change(user_id, version, lambda m: {**m, "display_name": display_name, "deleted": False})

    async def forget(self, user_id: str, version: int) -> bool:
        return await self._put(user_id, version, {"display_name": None, "deleted": True, "scoped_titles": []})

    async def title_granted(self, user_id: str, title: str, scope: str, version: int) -> bool:
        entry = f"{scope}{SEP}{title}"
        return await self._change(user_id, version, lambda m: {
            **m, "scoped_titles": sorted({*(m.get("scoped_titles") or []), entry})})

    async def title_revoked(self, user_id: str, title: str, scope: str, version: int) -> bool:
        entry = f"{scope}{SEP}{title}"
        return await self._change(user_id, version, lambda m: {
            **m, "scoped_titles": [t for t in m.get("scoped_titles") or [] if t != entry]})

    async def members(self, user_ids: set[str]) -> dict[str, Member]:
        """What is known of those of `user_ids` search has heard of (deleted accounts: nothing)."""
        if not user_ids:
            return {}
        try:
            response = await self.es.mget(index=self.index, ids=sorted(user_ids))
        except NotFoundError:
            return {}
        return {d["_id"]: _member(d["_source"]) for d in response["docs"]
                if d.get("found") and not d["_source"].get("deleted")}


def _member(source: dict[str, Any]) -> Member:
    scopes = (t.split(SEP, 1)[0] for t in source.get("scoped_titles") or [])
    return Member(display_name=source.get("display_name"),
                  expert_tags=frozenset(s.removeprefix(TAG_SCOPE) for s in scopes if s.startswith(TAG_SCOPE)))

"""The demand report's three small indices, beside the posts indices (unversioned like deleted-authors: a reindex
replays the content topic only, and writes the activity log again, harmlessly).

- `<alias>.zero-hits`: one document per (normalised query, tag filter, SIG filter) that found nothing, with a count
  and when it was first and last seen; never who searched. Bounded: see ZeroHits.
- `<alias>.activity`: one document per question, answer or vote (id = the event's id, so a replay or a redelivery
  writes nothing twice), with the post's tags and SIG, over the retention window.
- `<alias>.tag-follows`: one document per (member, tag), written with the member's aggregate version
  (`external_gte`) so a replayed or late event never overwrites a newer state; unfollowing leaves a tombstone.
"""

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from agora_common.events import BadEvent, Envelope
from elasticsearch import AsyncElasticsearch, BadRequestError, ConflictError, NotFoundError

from agora_search.domain.demand import Activity, Visibility, activity_of

log = logging.getLogger(__name__)

TERMS_SIZE = 1000  # tags per aggregation: the report ranks at most this many


async def _ensure(es: AsyncElasticsearch, index: str, properties: dict) -> None:
    if await es.indices.exists(index=index):
        return
    try:
        await es.indices.create(index=index, mappings={"dynamic": "strict", "properties": properties})
    except BadRequestError as exc:
        if "already_exists" not in str(exc.error):
            raise


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _buckets(aggregation: dict) -> dict[str, dict]:
    return {b["key"]: b for b in aggregation["buckets"]}


class ZeroHits:
    """Searches that found nothing. Storage is bounded three ways: junk never gets in (domain/demand.py), at most
    `max_queries` documents are kept (when a new one would pass the bound, the least searched and least recently
    seen give way, down to 90 % of it), and queries not seen for `retention` are forgotten."""

    def __init__(self, es: AsyncElasticsearch, index: str, *, max_queries: int, retention: timedelta) -> None:
        self.es = es
        self.index = index
        self.max_queries = max_queries
        self.retention = retention

    async def ensure(self) -> None:
        await _ensure(self.es, self.index, {
            # .words: the query's words, so a report for a tag also finds the queries that name it
            "query": {"type": "keyword", "fields": {"words": {"type": "text", "analyzer": "standard"}}},
            "tags": {"type": "keyword"},
            "sig_id": {"type": "keyword"},
            "count": {"type": "long"},
            "first_seen": {"type": "date"},
            "last_seen": {"type": "date"},
        })

    async def record(self, doc_id: str, *, query: str, tags: tuple[str, ...], sig: str | None,
                     now: datetime) -> bool:
        """Count one more search for this key; True if it is a new key."""
        at = _iso(now)
        response = await self.es.update(
            index=self.index, id=doc_id, retry_on_conflict=5,
            script={"source": "ctx._source.count += 1; ctx._source.last_seen = params.now", "params": {"now": at}},
            upsert={"query": query, "tags": sorted(tags), "sig_id": sig, "count": 1, "first_seen": at,
                    "last_seen": at},
        )
        return response["result"] == "created"

    async def size(self) -> int:
        return (await self.es.count(index=self.index))["count"]

    async def expire(self, now: datetime) -> int:
        await self.es.indices.refresh(index=self.index)  # delete_by_query sees only what is searchable
        response = await self.es.delete_by_query(
            index=self.index, query={"range": {"last_seen": {"lt": _iso(now - self.retention)}}},
            conflicts="proceed", refresh=True)
        return response.get("deleted", 0)

    async def evict(self, keep: int) -> int:
        """Delete the least searched, least recently seen documents beyond `keep`."""
        await self.es.indices.refresh(index=self.index)
        surplus = await self.size() - keep
        if surplus <= 0:
            return 0
        hits = (await self.es.search(index=self.index, size=surplus, source=False,
                                     sort=[{"count": "asc"}, {"last_seen": "asc"}]))["hits"]["hits"]
        if not hits:
            return 0
        await self.es.bulk(operations=[{"delete": {"_index": self.index, "_id": h["_id"]}} for h in hits],
                           refresh=True)
        return len(hits)

    async def top(self, *, tag: str | None, sig: str | None, size: int) -> list[dict]:
        """The most searched first, then the most recent."""
        await self.es.indices.refresh(index=self.index)
        filters: list[dict] = []
        if tag:  # searched within the tag, or naming it
            filters.append({"bool": {"should": [{"term": {"tags": tag}},
                                                {"match_phrase": {"query.words": tag}}], "minimum_should_match": 1}})
        if sig:
            filters.append({"term": {"sig_id": sig}})
        response = await self.es.search(index=self.index, size=size, query={"bool": {"filter": filters}},
                                        sort=[{"count": "desc"}, {"last_seen": "desc"}, {"query": "asc"}])
        return [h["_source"] for h in response["hits"]["hits"]]


class ActivityLog:
    """Questions, answers and votes per tag and SIG, kept `retention`; deleted or hidden posts stop counting."""

    def __init__(self, es: AsyncElasticsearch, index: str, *, retention: timedelta) -> None:
        self.es = es
        self.index = index
        self.retention = retention

    async def ensure(self) -> None:
        await _ensure(self.es, self.index, {
            "kind": {"type": "keyword"},
            "post_id": {"type": "keyword"},
            "tags": {"type": "keyword"},
            "sig_id": {"type": "keyword"},
            "actor_id": {"type": "keyword"},
            "at": {"type": "date"},
            "visible": {"type": "boolean"},
        })

    async def record(self, envelopes: Iterable[Envelope], *, now: datetime | None = None) -> int:
        """Write the activity of a batch of content events (idempotent: ids are event ids); returns how many new."""
        oldest = (now or datetime.now(UTC)) - self.retention
        created: list[tuple[Envelope, Activity]] = []
        visibility: dict[str, bool] = {}  # the batch's last word per post
        for envelope in envelopes:
            try:
                item = activity_of(envelope.payload())
            except BadEvent:
                continue  # the indexer dead-letters it
            if isinstance(item, Activity) and envelope.time >= oldest:
                created.append((envelope, item))
            elif isinstance(item, Visibility):
                visibility[item.post_id] = item.visible
        written = 0
        if created:
            operations: list[dict] = []
            for envelope, a in created:
                operations += [{"create": {"_index": self.index, "_id": envelope.id}},
                               {"kind": a.kind, "post_id": a.post_id, "tags": list(a.tags), "sig_id": a.sig_id,
                                "actor_id": a.actor_id, "at": _iso(envelope.time),
                                "visible": visibility.get(a.post_id, True)}]
            response = await self.es.bulk(operations=operations)
            for item in response["items"]:
                status = item["create"].get("status", 500)
                if status < 300:
                    written += 1
                elif status != 409:  # 409: written before (a redelivery or a reindex's replay)
                    raise RuntimeError(f"activity write failed with {status}: {item['create'].get('error')}")
        if visibility:
            await self.es.indices.refresh(index=self.index)  # update_by_query sees only what is searchable
            for visible in (False, True):
                posts = sorted(p for p, v in visibility.items() if v is visible)
                if posts:
                    await self.es.update_by_query(
                        index=self.index, conflicts="proceed",
                        query={"bool": {"filter": [{"terms": {"post_id": posts}}],
                                        "must_not": [{"term": {"visible": visible}}]}},
                        script={"source": "ctx._source.visible = params.v", "params": {"v": visible}})
        return written

    async def forget_actor(self, user_id: str) -> None:
        """A deleted account: its answers still count, no longer as its own."""
        await self.es.indices.refresh(index=self.index)
        await self.es.update_by_query(index=self.index, conflicts="proceed", query={"term": {"actor_id": user_id}},
                                      script={"source": "ctx._source.actor_id = null"})

    async def purge(self, now: datetime) -> int:
        response = await self.es.delete_by_query(
            index=self.index, query={"range": {"at": {"lt": _iso(now - self.retention)}}}, conflicts="proceed")
        return response.get("deleted", 0)

    def _filters(self, *, since: datetime, sig: str | None, tag: str | None, kind: str | None = None) -> list[dict]:
        filters: list[dict] = [{"term": {"visible": True}}, {"range": {"at": {"gte": _iso(since)}}}]
        if sig:
            filters.append({"term": {"sig_id": sig}})
        if tag:
            filters.append({"term": {"tags": tag}})
        if kind:
            filters.append({"term": {"kind": kind}})
        return filters

    async def answers_per_tag(self, *, since: datetime, sig: str | None,
                              tags: list[str]) -> tuple[dict[str, int], dict[str, int]]:
        """(answers, distinct answerers) per tag of `tags` since `since`."""
        if not tags:
            return {}, {}
        await self.es.indices.refresh(index=self.index)
        filters = [*self._filters(since=since, sig=sig, tag=None, kind="answer"), {"terms": {"tags": tags}}]
        response = await self.es.search(
            index=self.index, size=0, query={"bool": {"filter": filters}},
            aggs={"tags": {"terms": {"field": "tags", "size": TERMS_SIZE * 5},  # a post has up to 5 tags
                           "aggs": {"answerers": {"cardinality": {"field": "actor_id"}}}}})
        wanted = set(tags)
        buckets = {k: b for k, b in _buckets(response["aggregations"]["tags"]).items() if k in wanted}
        return ({k: b["doc_count"] for k, b in buckets.items()},
                {k: b["answerers"]["value"] for k, b in buckets.items()})

    async def per_tag_and_period(self, *, since: datetime, split: datetime, sig: str | None,
                                 tag: str | None) -> dict[str, dict[str, Any]]:
        """Per tag: activity before `split` (since `since`) and from `split` on, the latter by kind."""
        await self.es.indices.refresh(index=self.index)
        response = await self.es.search(
            index=self.index, size=0, query={"bool": {"filter": self._filters(since=since, sig=sig, tag=tag)}},
            aggs={"tags": {"terms": {"field": "tags", "size": TERMS_SIZE}, "aggs": {
                "current": {"filter": {"range": {"at": {"gte": _iso(split)}}},
                            "aggs": {"kinds": {"terms": {"field": "kind", "size": 5}}}},
                "previous": {"filter": {"range": {"at": {"lt": _iso(split)}}}},
            }}})
        out: dict[str, dict[str, Any]] = {}
        for key, bucket in _buckets(response["aggregations"]["tags"]).items():
            if tag and key != tag:
                continue  # the filter tag's posts carry other tags too
            out[key] = {"current": bucket["current"]["doc_count"], "previous": bucket["previous"]["doc_count"],
                        "kinds": {k["key"]: k["doc_count"] for k in bucket["current"]["kinds"]["buckets"]}}
        return out


class TagFollows:
    """Who follows which tag (from the users topic); the report counts followers per tag."""

    def __init__(self, es: AsyncElasticsearch, index: str) -> None:
        self.es = es
        self.index = index

    async def ensure(self) -> None:
        await _ensure(self.es, self.index, {"user_id": {"type": "keyword"}, "tag": {"type": "keyword"},
                                            "following": {"type": "boolean"}})

    async def put(self, user_id: str, tag: str, *, following: bool, version: int) -> bool:
        try:
            await self.es.index(index=self.index, id=f"{user_id}|{tag}", version=version, version_type="external_gte",
                                document={"user_id": user_id, "tag": tag, "following": following})
        except ConflictError:
            return False  # a later event already wrote this follow
        return True

    async def forget(self, user_id: str) -> None:
        """A deleted account follows nothing."""
        try:
            await self.es.indices.refresh(index=self.index)
            await self.es.delete_by_query(index=self.index, query={"term": {"user_id": user_id}}, conflicts="proceed")
        except NotFoundError:
            pass

    async def followers(self, *, tags: list[str] | None, size: int = TERMS_SIZE) -> dict[str, int]:
        """Followers per tag: of `tags`, or the `size` most followed."""
        if tags is not None and not tags:
            return {}
        await self.es.indices.refresh(index=self.index)
        filters: list[dict] = [{"term": {"following": True}}]
        if tags is not None:
            filters.append({"terms": {"tag": tags}})
        response = await self.es.search(index=self.index, size=0, query={"bool": {"filter": filters}},
                                        aggs={"tags": {"terms": {"field": "tag", "size": size}}})
        return {k: b["doc_count"] for k, b in _buckets(response["aggregations"]["tags"]).items()}

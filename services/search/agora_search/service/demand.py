"""The demand report (operators): what members need and do not find, per tag or SIG, each row with a ready event
draft; and the recording of searches that found nothing, which feeds it.

Why here: search is the one service that sees every query (and zero-hit queries must never leave it with their
user), it already indexes every question with its answered state, tags and SIG, and it consumes both the content
and the users topics. The report therefore needs no call to another service and no second copy of the content.
"""

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import AsyncElasticsearch

from agora_search.adapters.demand import ActivityLog, TagFollows, ZeroHits
from agora_search.config import Settings
from agora_search.domain import demand as d
from agora_search.domain import query as q
from agora_search.domain.query import SearchParams

log = logging.getLogger(__name__)

MAX_PENDING = 100  # zero-hit recordings in flight per process; more are dropped (a search never waits for one)
EXPIRE_EVERY_SECONDS = 3600.0
ZERO_HIT_CANDIDATES = 3  # the report re-checks this many times `limit` queries, keeping those that still find nothing


def zero_hits(es: AsyncElasticsearch, settings: Settings) -> ZeroHits:
    return ZeroHits(es, settings.zero_hits_index, max_queries=settings.zero_hit_max_queries,
                    retention=timedelta(days=settings.demand_retention_days))


def activity_log(es: AsyncElasticsearch, settings: Settings) -> ActivityLog:
    return ActivityLog(es, settings.activity_index, retention=timedelta(days=settings.demand_retention_days))


class ZeroHitRecorder:
    """Counts searches that found nothing, in the background: the search answers at once, a failure to record is
    logged and forgotten. At most `zero_hit_max_per_second` recordings per process (a token bucket) and MAX_PENDING
    in flight; beyond that they are dropped, so a flood of junk searches costs the index nothing."""

    def __init__(self, store: ZeroHits, *, per_second: float) -> None:
        self.store = store
        self.rate = per_second
        self.burst = max(per_second, 1.0)
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._pending: set[asyncio.Task] = set()
        self._size: int | None = None  # documents in the index, as last counted (new keys add one)
        self._expired_at = 0.0
        self._housekeeping = asyncio.Lock()
        self.dropped = 0

    def _take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1 or len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return False
        self._tokens -= 1
        return True

    def note(self, params: SearchParams) -> bool:
        """A first page that found nothing: count it if it says something about demand. Returns whether it will."""
        query = d.zero_hit_worthy(params)
        if query is None or not self._take():
            return False
        task = asyncio.create_task(self._record(query, params.tags, params.sig), name="search-zero-hit")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return True

    async def _record(self, query: str, tags: tuple[str, ...], sig: str | None) -> None:
        try:
            await self.record(query, tags, sig)
        except Exception:
            log.warning("could not record a zero-hit search", exc_info=True)

    async def record(self, query: str, tags: tuple[str, ...], sig: str | None,
                     now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        created = await self.store.record(d.zero_hit_id(query, tags, sig), query=query, tags=tags, sig=sig, now=now)
        if created:
            if self._size is None:
                self._size = await self.store.size()
            self._size += 1
        await self._keep_bounded(now, full=created and self._size is not None
                                 and self._size > self.store.max_queries)

    async def _keep_bounded(self, now: datetime, *, full: bool) -> None:
        due = time.monotonic() - self._expired_at > EXPIRE_EVERY_SECONDS
        if not (full or due) or self._housekeeping.locked():
            return
        async with self._housekeeping:
            if due:
                self._expired_at = time.monotonic()
                await self.store.expire(now)
            if full:
                await self.store.evict(int(self.store.max_queries * 0.9))
            self._size = await self.store.size()

    async def drain(self) -> None:
        """Wait for the recordings in flight (tests; shutdown)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await self.drain()


async def _still_zero(es: AsyncElasticsearch, alias: str, rows: list[dict]) -> list[bool]:
    """Whether each recorded query still finds nothing (content may have been written since)."""
    if not rows:
        return []
    searches: list[dict] = []
    for row in rows:
        body = q.build_body(SearchParams(q=row["query"], tags=tuple(row["tags"]), sig=row["sig_id"], size=1))
        check = {"query": body["query"], "size": 0, "track_total_hits": True}
        if "post_filter" in body:
            check["post_filter"] = body["post_filter"]
        searches += [{"index": alias}, check]
    responses = (await es.msearch(searches=searches))["responses"]
    return [("error" not in r) and r["hits"]["total"]["value"] == 0 for r in responses]


async def _unanswered(es: AsyncElasticsearch, alias: str, *, tag: str | None, sig: str | None, limit: int,
                      now: datetime) -> list[dict]:
    filters: list[dict] = [{"term": {"visible": True}}, {"term": {"type": "question"}}, {"term": {"answered": False}}]
    if tag:
        filters.append({"term": {"tags": tag}})
    if sig:
        filters.append({"term": {"sig_id": sig}})
    response = await es.search(index=alias, size=limit, query={"bool": {"filter": filters}},
                               sort=[{"created_at": "asc"}, {"id": "asc"}],
                               source_includes=["id", "title", "tags", "sig_id", "created_at"])
    rows = []
    for hit in response["hits"]["hits"]:
        src = hit["_source"]
        asked = datetime.fromisoformat(src["created_at"]) if src.get("created_at") else now
        asked = asked if asked.tzinfo else asked.replace(tzinfo=UTC)
        rows.append({"question_id": src["id"], "title": src.get("title") or "", "tags": src.get("tags") or [],
                     "sig_id": src.get("sig_id"), "asked_at": asked,
                     "age_days": round(max((now - asked).total_seconds(), 0) / 86400, 1)})
    return rows


async def _sig_tags(es: AsyncElasticsearch, alias: str, sig: str) -> list[str]:
    """The tags of a SIG's posts (any time): the tags whose followers a SIG's report weighs."""
    response = await es.search(index=alias, size=0, query={"bool": {"filter": [{"term": {"sig_id": sig}},
                                                                              {"term": {"visible": True}}]}},
                               aggs={"tags": {"terms": {"field": "tags", "size": 1000}}})
    return [b["key"] for b in response["aggregations"]["tags"]["buckets"]]


async def report(*, es: AsyncElasticsearch, settings: Settings, tag: str | None, sig: str | None, limit: int,
                 period_days: int, min_followers: int, options: d.DraftOptions,
                 now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    period = timedelta(days=period_days)
    split, since = now - period, now - 2 * period
    alias = settings.alias

    unanswered = await _unanswered(es, alias, tag=tag, sig=sig, limit=limit, now=now)
    for row in unanswered:
        row["draft"] = d.unanswered_draft(options, row)

    candidates = await zero_hits(es, settings).top(tag=tag, sig=sig, size=limit * ZERO_HIT_CANDIDATES)
    still = await _still_zero(es, alias, candidates)
    searches: list[dict[str, Any]] = []
    for row, empty in zip(candidates, still, strict=True):
        if empty and len(searches) < limit:
            row = {"query": row["query"], "tags": row["tags"], "sig_id": row["sig_id"], "count": row["count"],
                   "first_seen": datetime.fromisoformat(row["first_seen"]),
                   "last_seen": datetime.fromisoformat(row["last_seen"])}
            row["draft"] = d.zero_hit_draft(options, row)
            searches.append(row)

    follows = TagFollows(es, settings.tag_follows_index)
    activity = activity_log(es, settings)
    scope = [tag] if tag else (await _sig_tags(es, alias, sig) if sig else None)
    followers = await follows.followers(tags=scope)
    answers, answerers = await activity.answers_per_tag(since=split, sig=sig, tags=sorted(followers))
    under = d.under_served(followers, answers, answerers, min_followers=min_followers, limit=limit)
    for row in under:
        row["draft"] = d.under_served_draft(options, row, period_days=period_days)

    periods = await activity.per_tag_and_period(since=since, split=split, sig=sig, tag=tag)
    trend = d.trending({t: p["current"] for t, p in periods.items()}, {t: p["previous"] for t, p in periods.items()},
                       limit=limit)
    for row in trend:
        kinds = periods[row["tag"]]["kinds"]
        row.update(questions=kinds.get("question", 0), answers=kinds.get("answer", 0), votes=kinds.get("vote", 0))
        row["draft"] = d.trending_draft(options, row, period_days=period_days)

    return {"generated_at": now, "tag": tag, "sig": sig, "period_days": period_days, "period_start": split,
            "previous_period_start": since, "unanswered": unanswered, "zero_hit_searches": searches,
            "under_served_tags": under, "trending_tags": trend}

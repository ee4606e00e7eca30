"""Search and autocomplete use cases. Times the engine (`took`) apart from the service's own work."""

import contextlib
import time
from typing import Any

from agora_common import db_timing
from agora_common.errors import InvalidInput
from elasticsearch import AsyncElasticsearch, NotFoundError

from agora_search import metrics
from agora_search.adapters.member_names import MemberNames
from agora_search.domain import cursor as cursors
from agora_search.domain import query as q
from agora_search.domain.query import SearchParams

LAST_SHARD_DOC = 2**63 - 1


class _Timer:
    """Wall time spent waiting for Elasticsearch and its own reported time, to split the two in metrics."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.engine_wall = 0.0
        self.engine_took = 0.0

    async def call(self, coro) -> Any:
        started = time.perf_counter()
        try:
            response = await coro
        finally:
            self.engine_wall += time.perf_counter() - started
        took = response.get("took") if hasattr(response, "get") else None
        if took is not None:
            self.engine_took += took / 1000
        return response

    def observe(self) -> dict[str, float]:
        total = time.perf_counter() - self.start
        service = max(total - self.engine_wall, 0.0)
        # the platform's Server-Timing (db;dur, app;dur) counts MongoDB time as "db": here the database is the engine
        db_timing.record_backend_time(self.engine_wall)
        metrics.QUERY_DURATION.labels("engine").observe(self.engine_took)
        metrics.QUERY_DURATION.labels("service").observe(service)
        return {"total": total, "engine": self.engine_took, "engine_roundtrip": self.engine_wall, "service": service}


async def search(
    *, es: AsyncElasticsearch, alias: str, params: SearchParams, cursor: str | None, pit_keep_alive: str,
    names: MemberNames | None = None,
) -> dict:
    timer = _Timer()
    fingerprint = params.fingerprint()
    position = cursors.decode(cursor) if cursor else None
    if position and position.fingerprint != fingerprint:
        raise InvalidInput("cursor belongs to a different query: repeat the query's parameters unchanged",
                           code="invalid_cursor")
    sort_len = len(q.sort_spec(params))
    keep_alive: dict[str, Any] = {"keep_alive": pit_keep_alive}

    if position is None:
        # first page: the live index; most searches never ask for a second page, so no point in time yet
        response = await timer.call(es.search(index=alias, **q.build_body(params)))
        pit_id = None
    else:
        pit_id = position.pit_id
        after = position.search_after
        if pit_id is None:
            # second page: freeze the results from here on, so deep pages neither repeat nor skip hits while
            # posts change. A point-in-time search sorts by an extra implicit tiebreaker (_shard_doc); the post id
            # before it is unique already, so its highest value simply means "after this very hit".
            pit_id = (await timer.call(es.open_point_in_time(index=alias, **keep_alive)))["id"]
            after = [*after[:sort_len], LAST_SHARD_DOC]
        try:
            body = q.build_body(params, search_after=after)
            response = await timer.call(es.search(pit={"id": pit_id, **keep_alive}, **body))
        except NotFoundError:
            # the point in time expired: continue on the live index after the same hit (a new one opens next page)
            pit_id = None
            body = q.build_body(params, search_after=after[:sort_len])
            response = await timer.call(es.search(index=alias, **body))
        pit_id = response.get("pit_id") or pit_id

    result, last_sort = q.parse_response(params, response.body)
    if names is not None and (people := q.people(result["hits"])):
        q.describe_people(result["hits"], await timer.call(names.members(people)))
    next_cursor = None
    if last_sort is not None:
        next_cursor = cursors.encode(cursors.Cursor(pit_id=pit_id, search_after=last_sort, fingerprint=fingerprint))
    elif pit_id is not None:
        with contextlib.suppress(NotFoundError):  # last page: release it now rather than at expiry
            await timer.call(es.close_point_in_time(id=pit_id))
    result["next_cursor"] = next_cursor
    result["timing"] = timer.observe()
    return result


async def suggest(*, es: AsyncElasticsearch, alias: str, prefix: str, size: int) -> dict:
    timer = _Timer()
    response = await timer.call(
        es.msearch(searches=[{"index": alias}, q.suggest_body_titles(prefix, size),
                             {"index": alias}, q.suggest_body_tags(prefix)])
    )
    titles_response, tags_response = response["responses"]
    timer.engine_took = sum(r.get("took", 0) for r in response["responses"]) / 1000
    for part in (titles_response, tags_response):
        if "error" in part:
            raise RuntimeError(f"suggest query failed: {part['error']}")
    titles = [{"id": h["_source"]["id"], "type": h["_source"]["type"], "title": h["_source"]["title"]}
              for h in titles_response["hits"]["hits"]]
    result = {"titles": titles, "tags": q.parse_tag_suggestions(prefix, tags_response, size)}
    timer.observe()
    return result

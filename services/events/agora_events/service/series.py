"""Recurring series (the weekly live stream): one series document and one event per occurrence.

Each occurrence is an ordinary event (its own registrations, check-ins, lifecycle), so one week can be
cancelled or moved without touching the others; the series groups them for the calendar feed and statistics.
"""

from datetime import UTC, datetime, timedelta

from agora_common.auth import Principal
from agora_common.errors import NotFound
from agora_common.idempotency import create_once
from agora_common.ids import new_id
from agora_common.pagination import keyset_page
from agora_common.uow import UnitOfWork
from pymongo import ASCENDING

from agora_events.adapters import ical
from agora_events.adapters.mongo import EVENTS, SERIES
from agora_events.domain import stats
from agora_events.domain.lifecycle import VISIBLE, Action, Status
from agora_events.service import events
from agora_events.service.context import Ctx, require_manager

SERIES_FIELDS = ("title", "description", "kind", "sig_id", "tags", "capacity", "topic", "industry", "online",
                 "stream_url", "city", "venue", "address", "hosts", "timezone")


async def create(*, ctx: Ctx, spec: dict, user: Principal, idempotency_key: str | None = None) -> tuple[dict, bool]:
    """The series and its draft occurrences, in one transaction. With an Idempotency-Key, a retried request answers
    with the series the first one made (and creates no second set of occurrences). Returns (series, replayed)."""
    series_id = new_id()
    shared = {k: spec[k] for k in SERIES_FIELDS if k in spec}
    duration = timedelta(minutes=spec["duration_minutes"])
    occurrences = []
    for i in range(spec["occurrences"]):
        starts = spec["first_starts_at"] + timedelta(weeks=spec["interval_weeks"] * i)
        fields = {**shared, "title": f"{spec['title']} #{i + 1}", "starts_at": starts, "ends_at": starts + duration}
        occurrences.append(events.new_event_doc(fields, organizer_id=user.id, series_id=series_id, occurrence=i + 1))
    now = datetime.now(UTC)
    series = {
        "_id": series_id, **shared, "organizer_id": user.id, "hosts": spec.get("hosts") or [],
        "first_starts_at": spec["first_starts_at"], "duration_minutes": spec["duration_minutes"],
        "interval_weeks": spec["interval_weeks"], "event_ids": [o["_id"] for o in occurrences],
        "created_at": now,
    }

    async def work(uow: UnitOfWork) -> str:
        await ctx.db[SERIES].insert_one(series, session=uow.session)
        await ctx.db[EVENTS].insert_many(occurrences, session=uow.session)
        return series_id

    created_id, replayed = await create_once(db=ctx.db, run=ctx.transactions.run, user_id=user.id, scope="series",
                                             key=idempotency_key, payload=spec, body=work)
    return (await get(ctx=ctx, series_id=created_id) if replayed else series), replayed


async def list_series(*, ctx: Ctx, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    return await keyset_page(ctx.db[SERIES], {}, listing="series", order=[("first_starts_at", -1), ("_id", -1)],
                             limit=limit, cursor=cursor)


async def get(*, ctx: Ctx, series_id: str) -> dict:
    doc = await ctx.db[SERIES].find_one({"_id": series_id})
    if doc is None:
        raise NotFound(f"series {series_id} not found")
    return doc


async def occurrences(ctx: Ctx, series_id: str, *, visible_only: bool) -> list[dict]:
    query: dict = {"series_id": series_id}
    if visible_only:
        query["status"] = {"$in": [s.value for s in VISIBLE]}
    return await ctx.db[EVENTS].find(query).sort("starts_at", ASCENDING).to_list()


async def publish_all(*, ctx: Ctx, series_id: str, user: Principal) -> list[dict]:
    """Publish every occurrence still in draft (each one publishes its own EventPublished)."""
    series = await get(ctx=ctx, series_id=series_id)
    require_manager(series, user)
    published = []
    for occ in await occurrences(ctx, series_id, visible_only=False):
        if occ["status"] == Status.DRAFT:
            published.append(await events.apply_action(ctx=ctx, event_id=occ["_id"], action=Action.PUBLISH, user=user))
    return published


async def calendar(*, ctx: Ctx, series_id: str) -> bytes:
    series = await get(ctx=ctx, series_id=series_id)
    return ical.calendar(series["title"], await occurrences(ctx, series_id, visible_only=True),
                         ctx.settings.public_base_url)


def event_stats(doc: dict) -> dict:
    return {
        "event_id": doc["_id"], "title": doc["title"], "status": doc["status"], "starts_at": doc["starts_at"],
        **stats.event_figures(doc["counts"], ended=doc["status"] == Status.ENDED, capacity=doc.get("capacity")),
    }


async def series_stats(*, ctx: Ctx, series_id: str, user: Principal) -> dict:
    series = await get(ctx=ctx, series_id=series_id)
    require_manager(series, user)
    per_event = [event_stats(o) for o in await occurrences(ctx, series_id, visible_only=False)]
    figures = stats.series_figures([{**e, "ended": e["status"] == Status.ENDED} for e in per_event])
    return {"series_id": series_id, "title": series["title"], **figures, "events": per_event}

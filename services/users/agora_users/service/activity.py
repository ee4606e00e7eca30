"""The event-stream side of the users service: member activity for segmentation, and honor titles the
points service awards. Each event is applied once: its id is recorded in the same transaction as its effect.
Events are applied in chunks: one transaction per chunk, with the updates of one member folded together."""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agora_common.errors import NotFound
from agora_common.events import DomainEvent, Envelope
from agora_common.events.dispatch import EventHandlers
from agora_common.events.points import HonorTitleEarned, HonorTitleLost
from agora_common.ids import utcnow
from agora_common.uow import UnitOfWork
from pymongo.errors import DuplicateKeyError

from agora_users.adapters import store as c
from agora_users.adapters.store import Store
from agora_users.domain.activity import EVIDENCE_KINDS, Action, Evidence, Fact, facts_for
from agora_users.domain.segments import Segment
from agora_users.service import titles

log = logging.getLogger(__name__)


CHUNK = 100  # events per transaction: big enough to fold many updates together, small enough to retry


async def handle_event(*, store: Store, envelope: Envelope) -> bool:
    """Apply one domain event; returns False if it had been applied before (a replay or duplicate)."""
    return await handle_events(store=store, envelopes=[envelope]) == 1


async def handle_events(envelopes: list[Envelope], *, store: Store) -> int:
    """Apply a batch of domain events in order; returns how many were new (duplicates are skipped)."""
    applied = 0
    for i in range(0, len(envelopes), CHUNK):
        applied += await _apply_chunk(store, envelopes[i:i + CHUNK])
    return applied


def _plan(envelope: Envelope) -> tuple[list[Fact], DomainEvent | None] | None:
    """What an event will change, or None if it does not concern this service."""
    if envelope.source == "points":
        return ([], envelope.payload()) if TITLES.handles(envelope.type) else None
    facts = facts_for(envelope)
    return (facts, None) if facts else None


async def _apply_chunk(store: Store, chunk: list[Envelope]) -> int:
    plans: list[tuple[Envelope, list[Fact], DomainEvent | None]] = []
    ids: set[str] = set()
    for envelope in chunk:
        plan = _plan(envelope)
        if plan is not None and envelope.id not in ids:
            ids.add(envelope.id)
            plans.append((envelope, *plan))
    if not plans:
        return 0

    async def work(tx: UnitOfWork) -> int:
        fresh = {e.id for e in await tx.first_seen("users.activity", [e for e, _, _ in plans])}
        todo = [p for p in plans if p[0].id in fresh]
        if not todo:
            return 0
        last_action: dict[str, datetime] = {}
        days: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        evidence_of: set[str] = set()
        for envelope, facts, title_event in todo:
            if title_event is not None:
                await _apply_title(tx, envelope, title_event)
            for fact in facts:
                if isinstance(fact, Action):
                    last_action[fact.user_id] = max(fact.time, last_action.get(fact.user_id, fact.time))
                    counts = days[(fact.user_id, fact.time.date().isoformat())]
                    counts[0] += 1
                    counts[1] += int(fact.contribution)
                else:
                    await _apply_evidence(tx, fact)
                    evidence_of.add(fact.user_id)
        await _record_actions(tx, last_action, days)
        for user_id in evidence_of:
            await _refresh_contributor(tx, user_id)
        return len(todo)

    try:
        return await store.transactions.run(work)
    except DuplicateKeyError:
        # another consumer instance applied some of these at the same moment: redo them one by one
        if len(plans) == 1:
            return 0
        return sum([await _apply_chunk(store, [e]) for e, _, _ in plans])


# honor titles the points service awards or takes back are applied to the member's profile
TITLES: EventHandlers[Any] = EventHandlers("users.titles")


@TITLES.on(HonorTitleEarned)
async def _title_earned(event: HonorTitleEarned, envelope: Envelope, *, tx: UnitOfWork) -> None:
    await titles.grant_in(tx, user_id=event.user_id, title=event.title, by=titles.POINTS,
                          reason=f"earned {event.total_points} points (threshold {event.threshold}, rules "
                          f"{event.rules_version})", source_event=envelope.id)


@TITLES.on(HonorTitleLost)
async def _title_lost(event: HonorTitleLost, envelope: Envelope, *, tx: UnitOfWork) -> None:
    await titles.revoke_in(tx, user_id=event.user_id, title=event.title, by=titles.POINTS,
                           reason=f"points fell to {event.total_points} (threshold {event.threshold})",
                           only_automatic=True, source_event=envelope.id)


async def _apply_title(tx: UnitOfWork, envelope: Envelope, event: DomainEvent) -> None:
    try:
        await TITLES.handler_for(envelope.type)(event, envelope, tx=tx)  # the payload _plan already read
    except NotFound:
        log.info("title event for an unknown or deleted user ignored", extra={"event_id": envelope.id})


async def _record_actions(tx: UnitOfWork, last_action: dict[str, datetime], days: dict[tuple[str, str], list[int]]) -> None:
    for user_id, time in last_action.items():
        await tx.db[c.ACTIVITY].update_one(
            {"_id": user_id}, {"$max": {"last_action_at": time}, "$setOnInsert": {"contributor": False}},
            upsert=True, session=tx.session,
        )
    for (user_id, day), (actions, contributions) in days.items():
        await tx.db[c.ACTIVITY_DAYS].update_one(
            {"_id": f"{user_id}:{day}"},
            {"$inc": {"actions": actions, "contributions": contributions},
             "$setOnInsert": {"user_id": user_id, "day": day}},
            upsert=True, session=tx.session,
        )


async def _apply_evidence(tx: UnitOfWork, fact: Evidence) -> None:
    op = "$addToSet" if fact.present else "$pull"
    await tx.db[c.ACTIVITY].update_one({"_id": fact.user_id}, {op: {fact.kind: fact.ref}}, upsert=True,
                                          session=tx.session)


async def _refresh_contributor(tx: UnitOfWork, user_id: str) -> None:
    doc = await tx.db[c.ACTIVITY].find_one({"_id": user_id}, session=tx.session)
    contributor = any(doc.get(kind) for kind in EVIDENCE_KINDS)
    if contributor != doc.get("contributor"):
        await tx.db[c.ACTIVITY].update_one({"_id": user_id}, {"$set": {"contributor": contributor}},
                                              session=tx.session)


@dataclass
class SegmentSets:
    """Who is in which segment now (ordinary: every member in none of the others), and the figures behind it."""

    active: set[str]
    core: set[str]
    contributor: set[str]
    contributions: dict[str, int]  # contributions in the core window, per member
    activity: dict[str, dict]  # the activity record of every active member or contributor

    def users_query(self, segment: Segment) -> dict:
        """The users-collection condition for one segment's members."""
        if segment == "ordinary":
            return {"_id": {"$nin": sorted(self.active | self.contributor)}}
        return {"_id": {"$in": sorted({"active": self.active, "core": self.core,
                                       "contributor": self.contributor}[segment])}}


async def segment_sets(*, store: Store) -> SegmentSets:
    """The segments as they are now, from the activity collections (also what a user group by segment is)."""
    s = store.settings
    now = utcnow()
    active_since = now - timedelta(days=s.active_window_days)
    core_since = (now - timedelta(days=s.core_window_days)).date().isoformat()

    contributions = {
        row["_id"]: row["n"]
        for row in await (await store[c.ACTIVITY_DAYS].aggregate([
            {"$match": {"day": {"$gte": core_since}}},
            {"$group": {"_id": "$user_id", "n": {"$sum": "$contributions"}}},
        ])).to_list()
    }
    activity = {a["_id"]: a for a in await store[c.ACTIVITY].find(
        {"$or": [{"last_action_at": {"$gte": active_since}}, {"contributor": True}]}).to_list()}
    active = {uid for uid, a in activity.items() if a.get("last_action_at") and a["last_action_at"] >= active_since}
    contributor = {uid for uid, a in activity.items() if a.get("contributor")}
    core = {uid for uid in active if contributions.get(uid, 0) >= s.core_min_contributions}
    return SegmentSets(active=active, core=core, contributor=contributor, contributions=contributions,
                       activity=activity)


async def segment_members(*, store: Store, segment: Segment) -> list[dict]:
    """Rows for one segment, for operators: public profile fields and the activity behind the segment."""
    sets = await segment_sets(store=store)
    active, core, contributor = sets.active, sets.core, sets.contributor
    contributions, activity = sets.contributions, sets.activity
    users_query: dict = {"status": {"$ne": "deleted"}, **sets.users_query(segment)}
    users = await store[c.USERS].find(
        users_query, {"display_name": 1, "company": 1, "industry": 1, "city": 1, "roles": 1, "created_at": 1}
    ).sort("_id", 1).to_list()

    rows = []
    for u in users:
        a = activity.get(u["_id"], {})
        rows.append({
            "user_id": u["_id"], "display_name": u["display_name"], "company": u.get("company"),
            "industry": u.get("industry"), "city": u.get("city"), "roles": u.get("roles", []),
            "registered_at": u.get("created_at"), "last_action_at": a.get("last_action_at"),
            "recent_contributions": contributions.get(u["_id"], 0),
            "accepted_answers": len(a.get("accepted_answers", [])), "articles": len(a.get("articles", [])),
            "talks": len(a.get("talks", [])),
            "segments": [name for name, ids in (("active", active), ("core", core), ("contributor", contributor))
                         if u["_id"] in ids] or ["ordinary"],
        })
    return rows

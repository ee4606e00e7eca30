"""The event-stream side of the users service: member activity for segmentation, and honor titles the
points service awards. Each event is applied once: its id is recorded in the same transaction as its effect."""

import logging
from datetime import timedelta

from agora_common.errors import NotFound
from agora_common.events import Envelope
from agora_common.events.points import HonorTitleEarned, HonorTitleLost
from agora_common.ids import utcnow
from pymongo.errors import DuplicateKeyError

from agora_users.adapters import store as c
from agora_users.adapters.store import Store
from agora_users.adapters.unit_of_work import Tx, atomically
from agora_users.domain.activity import EVIDENCE_KINDS, Action, Evidence, facts_for
from agora_users.domain.segments import Segment
from agora_users.service import titles

log = logging.getLogger(__name__)


async def handle_event(*, store: Store, envelope: Envelope) -> bool:
    """Apply one domain event; returns False if it had been applied before (a replay or duplicate)."""
    if envelope.source == "users" and envelope.type.startswith("HonorTitle"):
        return False  # our own title events: nothing to learn from them
    facts = facts_for(envelope) if envelope.source != "points" else []
    payload = envelope.payload() if envelope.source == "points" else None
    if not facts and not isinstance(payload, (HonorTitleEarned, HonorTitleLost)):
        return False

    async def work(tx: Tx) -> bool:
        # look first: a failed insert would abort the whole transaction (a concurrent duplicate still fails
        # the insert, and the DuplicateKeyError below ends it)
        if await tx.store[c.PROCESSED_EVENTS].find_one({"_id": envelope.id}, {"_id": 1}, session=tx.session):
            return False
        await tx.store[c.PROCESSED_EVENTS].insert_one(
            {"_id": envelope.id, "type": envelope.type, "at": utcnow()}, session=tx.session
        )
        if isinstance(payload, HonorTitleEarned):
            await _safely(titles.grant_in(tx, user_id=payload.user_id, title=payload.title, by=titles.POINTS,
                                          reason=f"earned {payload.total_points} points (threshold "
                                          f"{payload.threshold}, rules {payload.rules_version})",
                                          source_event=envelope.id))
        elif isinstance(payload, HonorTitleLost):
            await _safely(titles.revoke_in(tx, user_id=payload.user_id, title=payload.title, by=titles.POINTS,
                                           reason=f"points fell to {payload.total_points} (threshold "
                                           f"{payload.threshold})", only_automatic=True, source_event=envelope.id))
        for fact in facts:
            if isinstance(fact, Action):
                await _record_action(tx, fact)
            elif isinstance(fact, Evidence):
                await _record_evidence(tx, fact)
        return True

    try:
        return await atomically(store, work)
    except DuplicateKeyError:
        return False  # the same event handled concurrently elsewhere


async def _safely(coro) -> None:
    try:
        await coro
    except NotFound:
        log.info("title event for an unknown or deleted user ignored")


async def _record_action(tx: Tx, action: Action) -> None:
    day = action.time.date().isoformat()
    await tx.store[c.ACTIVITY].update_one(
        {"_id": action.user_id},
        {"$max": {"last_action_at": action.time}, "$setOnInsert": {"contributor": False}},
        upsert=True, session=tx.session,
    )
    await tx.store[c.ACTIVITY_DAYS].update_one(
        {"_id": f"{action.user_id}:{day}"},
        {"$inc": {"actions": 1, "contributions": 1 if action.contribution else 0},
         "$setOnInsert": {"user_id": action.user_id, "day": day}},
        upsert=True, session=tx.session,
    )


async def _record_evidence(tx: Tx, fact: Evidence) -> None:
    op = "$addToSet" if fact.present else "$pull"
    doc = await tx.store[c.ACTIVITY].find_one_and_update(
        {"_id": fact.user_id}, {op: {fact.kind: fact.ref}}, upsert=True, return_document=True, session=tx.session
    )
    contributor = any(doc.get(kind) for kind in EVIDENCE_KINDS)
    if contributor != doc.get("contributor"):
        await tx.store[c.ACTIVITY].update_one({"_id": fact.user_id}, {"$set": {"contributor": contributor}},
                                              session=tx.session)


async def segment_members(*, store: Store, segment: Segment) -> list[dict]:
    """Rows for one segment, for operators: public profile fields and the activity behind the segment."""
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

    users_query: dict = {"status": {"$ne": "deleted"}}
    if segment == "active":
        users_query["_id"] = {"$in": sorted(active)}
    elif segment == "core":
        users_query["_id"] = {"$in": sorted(core)}
    elif segment == "contributor":
        users_query["_id"] = {"$in": sorted(contributor)}
    else:
        users_query["_id"] = {"$nin": sorted(active | contributor)}
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

"""First in, first out: free places go to the waitlisted registrations with the lowest sequence numbers."""

from datetime import UTC, datetime

from agora_common.events.community import PromotedFromWaitlist
from pymongo import ASCENDING

from agora_events.adapters.mongo import REGISTRATIONS
from agora_events.service.context import Ctx, ref


async def promote(ctx: Ctx, session, event: dict, *, actor: str | None, freed: int = 0) -> list[tuple]:
    """Promote into the free places of `event` (its counts plus `freed` places just released).

    Returns (PromotedFromWaitlist, registration) pairs; the caller updates the event's counters and version
    in the same transaction, which is what serialises concurrent promotions.
    """
    counts = event["counts"]
    capacity = event.get("capacity")
    free = counts["waitlisted"] if capacity is None else capacity - (counts["confirmed"] - freed)
    free = min(free, counts["waitlisted"])
    if free <= 0:
        return []
    now = datetime.now(UTC)
    waiting = await (
        ctx.db[REGISTRATIONS]
        .find({"event_id": event["_id"], "status": "waitlisted"}, session=session)
        .sort("seq", ASCENDING)
        .limit(free)
        .to_list()
    )
    promoted = []
    for reg in waiting:
        await ctx.db[REGISTRATIONS].update_one(
            {"_id": reg["_id"], "status": "waitlisted"},
            {"$set": {"status": "confirmed", "promoted_at": now, "updated_at": now}},
            session=session,
        )
        promoted.append(
            (PromotedFromWaitlist(**ref(event), registration_id=reg["_id"], user_id=reg["user_id"]), reg)
        )
    return promoted


async def position(ctx: Ctx, reg: dict, session=None) -> int | None:
    """1-based place in the waitlist, computed now (people ahead may have left)."""
    if reg["status"] != "waitlisted":
        return None
    ahead = await ctx.db[REGISTRATIONS].count_documents(
        {"event_id": reg["event_id"], "status": "waitlisted", "seq": {"$lt": reg["seq"]}}, session=session
    )
    return ahead + 1

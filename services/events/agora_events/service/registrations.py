"""Registration, cancellation, waitlist and check-in.

No overbooking: every registration runs in a transaction whose first write is a conditional update of the
event document ("confirmed < capacity" → +1 confirmed, otherwise +1 waitlisted). Concurrent transactions
on one event therefore conflict on that document and are retried, one after another, in commit order;
within one process they queue on a lock first so that the database sees few conflicts.
"""

import secrets
from datetime import UTC, datetime

from agora_common.auth import Principal
from agora_common.errors import Conflict, NotFound
from agora_common.events.community import AttendeeCheckedIn, RegistrationCancelled, RegistrationConfirmed, Waitlisted
from agora_common.idempotency import create_once
from agora_common.ids import new_id
from agora_common.pagination import keyset_page
from agora_common.standing import ensure_in_good_standing
from agora_common.uow import UnitOfWork
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from agora_events import metrics
from agora_events.adapters.mongo import EVENTS, REGISTRATIONS
from agora_events.domain.lifecycle import CANCELLABLE_REGISTRATION, CHECK_IN_OPEN, Status
from agora_events.service.context import Ctx, change_event, load_event, ref, require_manager
from agora_events.service.waitlist import position, promote


def new_checkin_code() -> str:
    """128 random bits, URL-safe: short enough for a QR code, impossible to guess."""
    return secrets.token_urlsafe(16)


def _active_key(event_id: str, user_id: str) -> str:
    return f"{event_id}:{user_id}"


async def register(*, ctx: Ctx, event_id: str, user: Principal,
                   idempotency_key: str | None = None) -> tuple[dict, bool]:
    """Confirmed while places last, then waitlisted. With an Idempotency-Key, a retry (say after a gateway timeout)
    answers with the registration the first request made instead of 409 `already_registered`. Returns
    (registration, replayed)."""

    async def work(uow: UnitOfWork) -> str:
        await ensure_in_good_standing(db=ctx.db, user=user, uow=uow)
        event = await load_event(ctx, event_id, user=user, session=uow.session)
        if event["status"] != Status.REGISTRATION_OPEN:
            raise Conflict(f"registration is not open: the event is {event['status']}", code="registration_not_open")
        existing = await ctx.db[REGISTRATIONS].find_one(
            {"active_key": _active_key(event_id, user.id)}, session=uow.session
        )
        if existing:
            raise Conflict(
                f"you are already registered ({existing['status']})", code="already_registered",
                details={"registration_id": existing["_id"], "status": existing["status"]},
            )
        open_filter = {"_id": event_id, "status": Status.REGISTRATION_OPEN.value}
        seat_filter = dict(open_filter)
        if event.get("capacity") is not None:
            seat_filter["counts.confirmed"] = {"$lt": event["capacity"]}
        after = await uow.bump(EVENTS, seat_filter, {"$inc": {"counts.confirmed": 1}}, events=1)
        if after is not None:
            status, seq, pos = "confirmed", None, None
        else:
            after = await uow.bump(EVENTS, open_filter,
                               {"$inc": {"counts.waitlisted": 1, "waitlist_seq": 1}}, events=1)
            status, seq, pos = "waitlisted", after["waitlist_seq"], after["counts"]["waitlisted"]
        now = datetime.now(UTC)
        reg = {
            "_id": new_id(),
            "event_id": event_id,
            "user_id": user.id,
            "user_name": user.name,
            "status": status,
            "seq": seq,
            "active_key": _active_key(event_id, user.id),
            "checkin_code": new_checkin_code(),
            "checked_in_at": None,
            "created_at": now,
            "updated_at": now,
        }
        try:
            await ctx.db[REGISTRATIONS].insert_one(reg, session=uow.session)
        except DuplicateKeyError as exc:
            raise Conflict("you are already registered", code="already_registered") from exc
        if status == "confirmed":
            payload = RegistrationConfirmed(**ref(after), registration_id=reg["_id"], user_id=user.id)
        else:
            payload = Waitlisted(**ref(after), registration_id=reg["_id"], user_id=user.id, position=pos)
        uow.emit_bumped(after, [payload], actor=user.id)
        return reg["_id"]

    reg_id, replayed = await create_once(
        db=ctx.db, run=lambda body: change_event(ctx, event_id, body), user_id=user.id,
        scope=f"registration:{event_id}", key=idempotency_key, payload={}, body=work)
    reg = await ctx.db[REGISTRATIONS].find_one({"_id": reg_id})
    if reg is None:  # cannot happen: the registration was committed with its key
        raise NotFound(f"registration {reg_id} not found")
    if not replayed:
        metrics.REGISTRATIONS.labels(reg["status"]).inc()
    return {**reg, "position": await position(ctx, reg)}, replayed


async def _cancel(ctx: Ctx, uow: UnitOfWork, event: dict, reg: dict, actor: Principal) -> dict:
    if event["status"] not in CANCELLABLE_REGISTRATION:
        raise Conflict(f"registrations can no longer be cancelled: the event is {event['status']}",
                       code="cancellation_closed")
    if reg.get("checked_in_at"):
        raise Conflict("this registration is already checked in", code="already_checked_in")
    now = datetime.now(UTC)
    await ctx.db[REGISTRATIONS].update_one(
        {"_id": reg["_id"], "status": reg["status"]},
        {"$set": {"status": "cancelled", "cancelled_at": now, "cancelled_by": actor.id, "updated_at": now},
         "$unset": {"active_key": ""}},
        session=uow.session,
    )
    was_confirmed = reg["status"] == "confirmed"
    payloads = [RegistrationCancelled(**ref(event), registration_id=reg["_id"], user_id=reg["user_id"],
                                      was_confirmed=was_confirmed)]
    inc = {"counts.cancelled": 1}
    if was_confirmed:
        promotions = await promote(ctx, uow.session, event, actor=actor.id, freed=1)
        payloads += [p for p, _ in promotions]
        inc["counts.confirmed"] = len(promotions) - 1
        inc["counts.waitlisted"] = -len(promotions)
    else:
        inc["counts.waitlisted"] = -1
    after = await uow.bump(EVENTS, {"_id": event["_id"]}, {"$inc": inc}, events=len(payloads))
    uow.emit_bumped(after, payloads, actor=actor.id)
    metrics.REGISTRATIONS.labels("cancelled").inc()
    metrics.REGISTRATIONS.labels("promoted").inc(len(payloads) - 1)
    return {**reg, "status": "cancelled", "cancelled_at": now, "position": None}


async def cancel_mine(*, ctx: Ctx, event_id: str, user: Principal) -> dict:
    async def work(uow: UnitOfWork):
        event = await load_event(ctx, event_id, user=user, session=uow.session)
        reg = await ctx.db[REGISTRATIONS].find_one({"active_key": _active_key(event_id, user.id)}, session=uow.session)
        if reg is None:
            raise NotFound("you have no active registration for this event")
        return await _cancel(ctx, uow, event, reg, user)

    return await change_event(ctx, event_id, work)


async def cancel_by_id(*, ctx: Ctx, event_id: str, registration_id: str, user: Principal) -> dict:
    """An organiser cancels someone's registration (or a member their own, by id)."""

    async def work(uow: UnitOfWork):
        event = await load_event(ctx, event_id, user=user, session=uow.session)
        reg = await ctx.db[REGISTRATIONS].find_one({"_id": registration_id, "event_id": event_id}, session=uow.session)
        if reg is None:
            raise NotFound(f"registration {registration_id} not found")
        if reg["user_id"] != user.id:
            require_manager(event, user)
        if reg["status"] == "cancelled":
            raise Conflict("this registration is already cancelled", code="already_cancelled")
        return await _cancel(ctx, uow, event, reg, user)

    return await change_event(ctx, event_id, work)


async def mine(*, ctx: Ctx, event_id: str, user: Principal) -> dict:
    await load_event(ctx, event_id, user=user)
    reg = await ctx.db[REGISTRATIONS].find_one(
        {"event_id": event_id, "user_id": user.id}, sort=[("created_at", -1)]
    )
    if reg is None:
        raise NotFound("you have not registered for this event")
    return {**reg, "position": await position(ctx, reg)}


async def list_registrations(
    *, ctx: Ctx, event_id: str, user: Principal, status: str | None, limit: int, cursor: str | None
) -> tuple[list[dict], str | None]:
    """One page of an event's registrations (the waitlist in its order, the others in registration order), each
    with its waitlist position, and the cursor of the next page."""
    event = await load_event(ctx, event_id, user=user)
    require_manager(event, user)
    query: dict = {"event_id": event_id}
    if status:
        query["status"] = status
    waitlist = status == "waitlisted"
    order = [("seq", ASCENDING), ("_id", ASCENDING)] if waitlist else [("created_at", ASCENDING), ("_id", ASCENDING)]
    regs, next_cursor = await keyset_page(ctx.db[REGISTRATIONS], query, listing=f"registrations:{status or 'all'}",
                                          order=order, limit=limit, cursor=cursor)
    if waitlist and regs:  # positions follow from the order, counted from the first of this page
        first = await position(ctx, regs[0])
        return [{**r, "position": first + i} for i, r in enumerate(regs)], next_cursor
    places: dict[str, int] = {}
    if any(r["status"] == "waitlisted" for r in regs):
        queue = await ctx.db[REGISTRATIONS].find(
            {"event_id": event_id, "status": "waitlisted"}, projection={"_id": 1}).sort("seq", ASCENDING).to_list()
        places = {r["_id"]: i + 1 for i, r in enumerate(queue)}
    return [{**r, "position": places.get(r["_id"])} for r in regs], next_cursor


async def check_in(
    *, ctx: Ctx, event_id: str, user: Principal, code: str | None = None, registration_id: str | None = None
) -> dict:
    """An organiser scans an attendee's code (or, at the desk, picks the registration by id); attendance is
    recorded once, a second scan is a 409."""

    async def work(uow: UnitOfWork):
        event = await load_event(ctx, event_id, user=user, session=uow.session)
        require_manager(event, user)
        if event["status"] not in CHECK_IN_OPEN:
            raise Conflict(f"check-in is closed: the event is {event['status']}", code="check_in_closed")
        by = {"checkin_code": code} if code is not None else {"_id": registration_id}
        reg = await ctx.db[REGISTRATIONS].find_one({**by, "event_id": event_id}, session=uow.session)
        if reg is None:
            what = "this check-in code" if code is not None else f"id {registration_id}"
            raise NotFound(f"no registration for this event has {what}", code="unknown_code")
        if reg.get("checked_in_at"):
            raise Conflict(
                f"already checked in at {reg['checked_in_at'].isoformat()}", code="already_checked_in",
                details={"registration_id": reg["_id"], "user_id": reg["user_id"],
                         "checked_in_at": reg["checked_in_at"].isoformat()},
            )
        if reg["status"] != "confirmed":
            raise Conflict(f"this registration is {reg['status']}, not confirmed", code="not_confirmed",
                           details={"registration_id": reg["_id"], "status": reg["status"]})
        now = datetime.now(UTC)
        await ctx.db[REGISTRATIONS].update_one(
            {"_id": reg["_id"], "checked_in_at": None},
            {"$set": {"checked_in_at": now, "checked_in_by": user.id, "updated_at": now}},
            session=uow.session,
        )
        after = await uow.bump(EVENTS, {"_id": event_id}, {"$inc": {"counts.checked_in": 1}}, events=1)
        uow.emit_bumped(after, [AttendeeCheckedIn(**ref(after), registration_id=reg["_id"],
                                                           user_id=reg["user_id"], checked_in_at=now)], actor=user.id)
        return {**reg, "checked_in_at": now, "position": None}

    checked = await change_event(ctx, event_id, work)
    metrics.CHECKINS.inc()
    return checked


async def withdraw_user(*, ctx: Ctx, user_id: str) -> int:
    """A deleted account gives back its places in events that have not started (each promotes the next in line).

    Idempotent: a replayed UserDeleted finds nothing active any more. Returns how many were cancelled.
    """
    system = Principal(id="system:user-deleted", roles=[])
    active = await ctx.db[REGISTRATIONS].find({"user_id": user_id, "active_key": {"$exists": True}}).to_list()
    cancelled = 0
    for reg in active:

        async def work(uow: UnitOfWork, reg_id=reg["_id"], event_id=reg["event_id"]):
            event = await ctx.db[EVENTS].find_one({"_id": event_id}, session=uow.session)
            current = await ctx.db[REGISTRATIONS].find_one({"_id": reg_id}, session=uow.session)
            if event is None or event["status"] not in CANCELLABLE_REGISTRATION or current.get("active_key") is None \
                    or current.get("checked_in_at"):
                return False
            await _cancel(ctx, uow, event, current, system)
            return True

        cancelled += await change_event(ctx, reg["event_id"], work)
    return cancelled


async def of_user(*, ctx: Ctx, user: Principal, include_cancelled: bool, limit: int, cursor: str | None
                  ) -> tuple[list[dict], str | None]:
    """A member's registrations, newest first, each with its event's title, start and status."""
    query: dict = {"user_id": user.id}
    if not include_cancelled:
        query["status"] = {"$in": ["confirmed", "waitlisted"]}
    regs, next_cursor = await keyset_page(
        ctx.db[REGISTRATIONS], query, listing=f"my-registrations:{include_cancelled}",
        order=[("created_at", -1), ("_id", -1)], limit=limit, cursor=cursor)
    events = {e["_id"]: e for e in await ctx.db[EVENTS].find(
        {"_id": {"$in": list({r["event_id"] for r in regs})}},
        projection={"title": 1, "starts_at": 1, "status": 1, "kind": 1}).to_list()}
    out = []
    for r in regs:
        event = events.get(r["event_id"], {})
        out.append({**r, "position": await position(ctx, r), "event_title": event.get("title"),
                    "event_starts_at": event.get("starts_at"), "event_status": event.get("status"),
                    "event_kind": event.get("kind")})
    return out, next_cursor

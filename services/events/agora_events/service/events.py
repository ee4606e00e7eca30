"""Use cases of the community event itself: create, read, edit, move through the lifecycle, speakers."""

from datetime import UTC, datetime

from agora_common.auth import Principal
from agora_common.errors import Conflict, Forbidden, InvalidInput, NotFound
from agora_common.events.community import (
    EventCancelled,
    EventEnded,
    EventPublished,
    EventStarted,
    EventUpdated,
    RegistrationClosed,
    RegistrationOpened,
    SpeakerConfirmed,
)
from agora_common.idempotency import create_once
from agora_common.ids import new_id
from agora_common.mongo import equals_ignoring_case
from agora_common.pagination import keyset_page
from agora_common.standing import ensure_in_good_standing
from agora_common.uow import UnitOfWork

from agora_events.adapters.mongo import EVENTS
from agora_events.domain.kinds import check_details
from agora_events.domain.lifecycle import EDITABLE, VISIBLE, Action, IllegalTransition, Status, transition
from agora_events.service.context import Ctx, change_event, load_event, ref, require_manager
from agora_events.service.waitlist import promote

_TRANSITION_EVENT = {
    Action.OPEN_REGISTRATION: RegistrationOpened,
    Action.CLOSE_REGISTRATION: RegistrationClosed,
    Action.START: EventStarted,
    Action.END: EventEnded,
}


def new_event_doc(fields: dict, *, organizer_id: str, series_id: str | None = None, occurrence: int | None = None) -> dict:
    check_details(fields["kind"], fields)
    now = datetime.now(UTC)
    return {
        "_id": new_id(),
        **fields,
        "status": Status.DRAFT.value,
        "organizer_id": organizer_id,
        "hosts": fields.get("hosts") or [],
        "judges": fields.get("judges") or [],
        "speakers": [],
        "series_id": series_id,
        "occurrence": occurrence,
        "counts": {"confirmed": 0, "waitlisted": 0, "cancelled": 0, "checked_in": 0},
        "waitlist_seq": 0,
        "version": 0,
        "created_at": now,
        "updated_at": now,
    }


async def create(*, ctx: Ctx, fields: dict, user: Principal,
                 idempotency_key: str | None = None) -> tuple[dict, bool]:
    """A new event starts as a private draft: nothing is published until `publish`. With an Idempotency-Key, a
    retried request answers with the draft the first one made. Returns (event, replayed)."""

    async def work(uow: UnitOfWork) -> str:
        doc = new_event_doc(fields, organizer_id=user.id)
        await ctx.db[EVENTS].insert_one(doc, session=uow.session)
        return doc["_id"]

    event_id, replayed = await create_once(db=ctx.db, run=ctx.transactions.run, user_id=user.id, scope="event",
                                           key=idempotency_key, payload=fields, body=work)
    return await load_event(ctx, event_id, user=user), replayed


async def get(*, ctx: Ctx, event_id: str, user: Principal | None) -> dict:
    return await load_event(ctx, event_id, user=user)


async def list_events(
    *, ctx: Ctx, user: Principal | None, kind: str | None, status: str | None, sig_id: str | None,
    series_id: str | None, starts_after: datetime | None, limit: int, cursor: str | None,
    industry: str | None = None, city: str | None = None, online: bool | None = None,
    starts_before: datetime | None = None,
) -> tuple[list[dict], str | None]:
    query: dict = {}
    if kind:
        query["kind"] = kind
    if sig_id:
        query["sig_id"] = sig_id
    if series_id:
        query["series_id"] = series_id
    if industry:
        query["industry"] = industry
    if city:  # "Shanghai", "shanghai": one city
        query["city"] = equals_ignoring_case(city)
    if online is not None:
        query["online"] = online
    if starts_after or starts_before:
        query["starts_at"] = {**({"$gte": starts_after} if starts_after else {}),
                              **({"$lt": starts_before} if starts_before else {})}
    operator = user is not None and user.has("operator")
    if status:
        if status == Status.DRAFT and not operator:
            query["$or"] = [{"organizer_id": user.id if user else None}, {"hosts": user.id if user else None}]
        query["status"] = status
    elif not operator:
        query["status"] = {"$in": [s.value for s in VISIBLE]}
    return await keyset_page(ctx.db[EVENTS], query, listing="events", order=[("starts_at", 1), ("_id", 1)],
                             limit=limit, cursor=cursor)


def _published_payload(doc: dict) -> EventPublished:
    return EventPublished(
        **ref(doc), title=doc["title"], starts_at=doc["starts_at"], ends_at=doc.get("ends_at"),
        series_id=doc.get("series_id"), city=doc.get("city"), capacity=doc.get("capacity"),
        organizer_id=doc["organizer_id"],
    )


async def apply_action(*, ctx: Ctx, event_id: str, action: Action, user: Principal, reason: str | None = None) -> dict:
    async def work(uow: UnitOfWork):
        doc = await load_event(ctx, event_id, user=user, session=uow.session)
        require_manager(doc, user)
        target = transition(doc["status"], action)
        now = datetime.now(UTC)
        stamp = {"status": target.value, "updated_at": now, f"{target.value}_at": now}
        if reason:
            stamp["cancel_reason"] = reason
        after = await uow.bump(EVENTS, {"_id": event_id, "status": doc["status"]}, {"$set": stamp}, events=1)
        if after is None:  # cannot happen inside the transaction; kept as a guard
            raise IllegalTransition("the event changed meanwhile; reload and retry")
        if action == Action.PUBLISH:
            payload = _published_payload(after)
        elif action == Action.CANCEL:
            payload = EventCancelled(**ref(after), reason=reason)
        else:
            payload = _TRANSITION_EVENT[action](**ref(after))
        uow.emit_bumped(after, [payload], actor=user.id)
        return after

    return await change_event(ctx, event_id, work)


async def update(*, ctx: Ctx, event_id: str, changes: dict, user: Principal) -> dict:
    """Edit an event that has not started. A larger capacity promotes people from the waitlist, in order."""

    async def work(uow: UnitOfWork):
        doc = await load_event(ctx, event_id, user=user, session=uow.session)
        require_manager(doc, user)
        if doc["status"] not in EDITABLE:
            raise Conflict(f"an event that is {doc['status']} can no longer be edited", code="not_editable")
        merged = {**doc, **changes}
        check_details(doc["kind"], merged)
        capacity = merged.get("capacity")
        if capacity is not None and capacity < doc["counts"]["confirmed"]:
            raise Conflict(
                f"capacity {capacity} is below the {doc['counts']['confirmed']} confirmed registrations; "
                "cancel registrations first", code="capacity_below_confirmed",
            )
        promotions = await promote(ctx, uow.session, merged, actor=user.id) if "capacity" in changes else []
        visible = doc["status"] != Status.DRAFT
        payloads = []
        if visible:
            payloads.append(EventUpdated(**ref(merged), title=merged["title"], starts_at=merged["starts_at"],
                                         ends_at=merged.get("ends_at")))
        payloads += [p for p, _ in promotions]
        inc = {"counts.confirmed": len(promotions), "counts.waitlisted": -len(promotions)}
        after = await uow.bump(
            EVENTS, {"_id": event_id},
            {"$set": {**changes, "updated_at": datetime.now(UTC)}, "$inc": inc}, events=len(payloads),
        )
        if payloads:
            uow.emit_bumped(after, payloads, actor=user.id)
        return after

    return await change_event(ctx, event_id, work)


async def invite_speaker(*, ctx: Ctx, event_id: str, speaker: dict, user: Principal,
                         idempotency_key: str | None = None) -> tuple[dict, bool]:
    """With an Idempotency-Key, a retry answers with the event as it stands instead of 409 `already_speaker`.
    Returns (event, replayed)."""
    fresh: dict | None = None

    async def work(uow: UnitOfWork) -> str:
        nonlocal fresh
        doc = await load_event(ctx, event_id, user=user, session=uow.session)
        require_manager(doc, user)
        if doc["status"] not in EDITABLE:
            raise Conflict(f"speakers cannot be added to an event that is {doc['status']}", code="not_editable")
        if any(s["user_id"] == speaker["user_id"] for s in doc["speakers"]):
            raise Conflict(f"user {speaker['user_id']} is already a speaker of this event", code="already_speaker")
        entry = {**speaker, "confirmed": False, "invited_at": datetime.now(UTC)}
        fresh = await uow.bump(EVENTS, {"_id": event_id}, {"$push": {"speakers": entry}}, events=0)
        return event_id

    _, replayed = await create_once(
        db=ctx.db, run=lambda body: change_event(ctx, event_id, body), user_id=user.id,
        scope=f"speaker:{event_id}", key=idempotency_key, payload=speaker, body=work)
    if fresh is not None and not replayed:
        return fresh, False
    return await load_event(ctx, event_id, user=user), replayed


async def confirm_speaker(*, ctx: Ctx, event_id: str, speaker_id: str, user: Principal) -> dict:
    """The invited speaker (or an operator on their behalf) confirms; published as SpeakerConfirmed."""

    async def work(uow: UnitOfWork):
        if user.id == speaker_id:
            await ensure_in_good_standing(db=ctx.db, user=user, uow=uow)
        doc = await load_event(ctx, event_id, user=user, session=uow.session)
        if user.id != speaker_id and not user.has("operator"):
            raise Forbidden("only the invited speaker or an operator can confirm a speaker")
        index, entry = next(((i, s) for i, s in enumerate(doc["speakers"]) if s["user_id"] == speaker_id),
                            (None, None))
        if entry is None:
            raise NotFound(f"user {speaker_id} is not invited to speak at this event")
        if entry["confirmed"]:
            raise Conflict("this speaker has already confirmed", code="already_confirmed")
        if doc["status"] in ("ended", "cancelled"):
            raise Conflict(f"the event is {doc['status']}", code="event_over")
        after = await uow.bump(
            EVENTS, {"_id": event_id, f"speakers.{index}.user_id": speaker_id},
            {"$set": {f"speakers.{index}.confirmed": True, f"speakers.{index}.confirmed_at": datetime.now(UTC)}},
            events=1,
        )
        uow.emit_bumped(after, [SpeakerConfirmed(**ref(after), user_id=speaker_id,
                                                          talk_title=entry.get("talk_title"))], actor=user.id)
        return after

    return await change_event(ctx, event_id, work)


def require_kind(doc: dict, kind: str) -> None:
    if doc["kind"] != kind:
        raise Conflict(f"this is only for {kind} events; event {doc['_id']} is a {doc['kind']}", code="wrong_kind")


def check_ids(values: list[str], what: str) -> None:
    if len(set(values)) != len(values):
        raise InvalidInput(f"{what} contains duplicates")

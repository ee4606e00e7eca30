"""What content knows about members: suspensions and deletions, learned from the users topic."""

import logging
from datetime import datetime
from typing import Any

from agora_common.auth import Principal
from agora_common.errors import Forbidden
from agora_common.events import Envelope
from agora_common.events.dispatch import EventHandlers
from agora_common.events.users import UserDeleted, UserReinstated, UserSuspended
from pymongo.errors import DuplicateKeyError

from agora_content.adapters.store import Store, now

log = logging.getLogger(__name__)


async def ensure_may_post(*, store: Store, user: Principal) -> None:
    member = await store.members.find_one({"_id": user.id})
    if member is None:
        return
    if member.get("deleted"):
        raise Forbidden("this account has been deleted", code="account_deleted")
    if member.get("suspended"):
        until: datetime | None = member.get("suspended_until")
        if until is None or until > now():
            raise Forbidden(
                "your account is suspended" + (f" until {until.isoformat()}" if until else ""),
                code="account_suspended", details={"until": until.isoformat() if until else None},
            )


async def _set_state(store: Store, user_id: str, version: int, state: dict) -> bool:
    """Apply a member's state unless a later event already did (replays and duplicates change nothing)."""
    try:
        result = await store.members.update_one(
            {"_id": user_id, "$or": [{"version": {"$lte": version}}, {"version": {"$exists": False}}]},
            {"$set": {**state, "version": version, "updated_at": now()}},
            upsert=True,
        )
    except DuplicateKeyError:
        return False  # the member exists with a newer version: this event is stale
    return result.matched_count > 0 or result.upserted_id is not None


# what content learns from the users topic: who may no longer post, and whose content to anonymise
HANDLERS: EventHandlers[Any] = EventHandlers("content.members")


@HANDLERS.on(UserSuspended)
async def _suspended(event: UserSuspended, envelope: Envelope, *, store: Store) -> None:
    await _set_state(store, event.user_id, envelope.version, {"suspended": True, "suspended_until": event.until})


@HANDLERS.on(UserReinstated)
async def _reinstated(event: UserReinstated, envelope: Envelope, *, store: Store) -> None:
    await _set_state(store, event.user_id, envelope.version, {"suspended": False, "suspended_until": None})


@HANDLERS.on(UserDeleted)
async def _deleted(event: UserDeleted, envelope: Envelope, *, store: Store) -> None:
    await _set_state(store, event.user_id, envelope.version, {"deleted": True})
    await anonymise(store=store, user_id=event.user_id)


async def handle_users_event(envelope: Envelope, *, store: Store) -> None:
    await HANDLERS.dispatch(envelope, store=store)


async def anonymise(*, store: Store, user_id: str) -> int:
    """Keep a deleted member's content but drop the link to them (idempotent)."""
    gone = {"$set": {"author_id": None, "author_deleted": True}}
    result = await store.posts.update_many({"author_id": user_id}, gone)
    await store.resources.update_many({"author_id": user_id}, gone)
    log.info("anonymised content of a deleted account", extra={"posts": result.modified_count})
    return result.modified_count

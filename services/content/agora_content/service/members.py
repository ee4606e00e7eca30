"""What content knows about members: suspensions and deletions, learned from the users topic (the kernel's
member standing), and what a deletion does here: the member's content stays, anonymised."""

import logging
from typing import Any

from agora_common.auth import Principal
from agora_common.events import Envelope
from agora_common.standing import ensure_in_good_standing, standing_handlers

from agora_content.adapters.store import Store

log = logging.getLogger(__name__)


async def ensure_may_post(*, store: Store, user: Principal) -> None:
    await ensure_in_good_standing(db=store.db, user=user)


async def _anonymise_deleted(user_id: str, *, store: Store, **_: Any) -> None:
    await anonymise(store=store, user_id=user_id)


# what content learns from the users topic: who may no longer post, and whose content to anonymise
HANDLERS = standing_handlers("content.members", on_deleted=_anonymise_deleted)


async def handle_users_event(envelope: Envelope, *, store: Store) -> None:
    await HANDLERS.dispatch(envelope, db=store.db, store=store)


async def anonymise(*, store: Store, user_id: str) -> int:
    """Keep a deleted member's content but drop the link to them (idempotent)."""
    gone = {"$set": {"author_id": None, "author_deleted": True}}
    result = await store.posts.update_many({"author_id": user_id}, gone)
    await store.resources.update_many({"author_id": user_id}, gone)
    log.info("anonymised content of a deleted account", extra={"posts": result.modified_count})
    return result.modified_count

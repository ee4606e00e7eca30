"""What content knows about members from the users topic: suspensions and deletions (the kernel's member standing)
and what a deletion does here (the member's content stays, anonymised); display names and honor titles, and the
SIGs with their tags, for the expert lists (service/expertise.py)."""

import logging
from typing import Any

from agora_common.auth import Principal
from agora_common.events import Envelope
from agora_common.events.users import (
    HonorTitleGranted,
    HonorTitleRevoked,
    ProfileUpdated,
    SigCreated,
    UserRegistered,
)
from agora_common.mongo import upsert_if_newer
from agora_common.standing import MEMBERS, ensure_in_good_standing, standing_handlers

from agora_content.adapters.store import Store
from agora_content.service import expertise, invitations

log = logging.getLogger(__name__)


async def ensure_may_post(*, store: Store, user: Principal) -> None:
    await ensure_in_good_standing(db=store.db, user=user)


async def _anonymise_deleted(user_id: str, *, store: Store, **_: Any) -> None:
    await anonymise(store=store, user_id=user_id)


# what content learns from the users topic: who may no longer post, and whose content to anonymise; who is who
# (display names, titles) and which tags each SIG covers. Every change of a member follows the highest envelope
# version seen (the user's aggregate version), so a replay or a duplicate changes nothing.
HANDLERS = standing_handlers("content.members", on_deleted=_anonymise_deleted)


@HANDLERS.on(UserRegistered, ProfileUpdated)
async def _named(event: UserRegistered | ProfileUpdated, envelope: Envelope, *, store: Store, **_: Any) -> None:
    await upsert_if_newer(store.db[MEMBERS], event.user_id, envelope.version, {"display_name": event.display_name})


def _title_entry(event: HonorTitleGranted | HonorTitleRevoked) -> dict[str, Any]:
    """Unscoped titles are kept by name (`titles`); scoped ones ("tag:kubernetes": the tag's expert) as
    {scope, title} (`scoped_titles`), so revoking one never touches the other."""
    if event.scope:
        return {"scoped_titles": {"scope": event.scope, "title": event.title}}
    return {"titles": event.title}


@HANDLERS.on(HonorTitleGranted)
async def _title_granted(event: HonorTitleGranted, envelope: Envelope, *, store: Store, **_: Any) -> None:
    await upsert_if_newer(store.db[MEMBERS], event.user_id, envelope.version, {},
                          also={"$addToSet": _title_entry(event)})


@HANDLERS.on(HonorTitleRevoked)
async def _title_revoked(event: HonorTitleRevoked, envelope: Envelope, *, store: Store, **_: Any) -> None:
    await upsert_if_newer(store.db[MEMBERS], event.user_id, envelope.version, {},
                          also={"$pull": _title_entry(event)})


@HANDLERS.on(SigCreated)
async def _sig_created(event: SigCreated, envelope: Envelope, *, store: Store, **_: Any) -> None:
    await upsert_if_newer(store.sigs, event.sig_id, envelope.version,
                          {"name": event.name, "slug": event.slug, "tags": list(event.tags)})
    counted = await expertise.count_past_answers_for_sig(store, event.sig_id, list(event.tags))
    log.info("counted a new SIG's past answers", extra={"sig_id": event.sig_id, "answers": counted})


async def handle_users_event(envelope: Envelope, *, store: Store) -> None:
    await HANDLERS.dispatch(envelope, db=store.db, store=store)


async def anonymise(*, store: Store, user_id: str) -> int:
    """Keep a deleted member's content but drop the link to them (idempotent); they leave the expert lists."""
    gone = {"author_id": None, "author_deleted": True}
    # answers first, with what they contributed to the expert lists (it no longer belongs to anyone)
    answers = await store.posts.update_many({"author_id": user_id, "type": "answer"},
                                            {"$set": {**gone, "expertise": None}})
    result = await store.posts.update_many({"author_id": user_id}, {"$set": gone})
    await store.resources.update_many({"author_id": user_id}, {"$set": gone})
    await expertise.forget_member(store, user_id)
    await invitations.forget_invitee(store, user_id)
    await store.db[MEMBERS].update_one({"_id": user_id},
                                       {"$unset": {"display_name": "", "titles": "", "scoped_titles": ""}})
    modified = answers.modified_count + result.modified_count
    log.info("anonymised content of a deleted account", extra={"posts": modified})
    return modified

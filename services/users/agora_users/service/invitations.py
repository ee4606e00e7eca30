"""Invitations to answer a question, as the content service publishes them (`AnswerInvited`): an item in the invited
member's inbox, next to the announcements, with the question's title, the operator's note and a link to the question.

Each event is applied once: one event per invitation, and the inbox row is unique per invitation and member (an
upsert that only inserts, keeping the event's id), so a replay or a duplicate finds it there and changes nothing, even
once the member has read it. An invitation for an unknown or deleted account is dropped.
"""

import logging
from contextlib import suppress
from typing import Any

from agora_common.events import Envelope
from agora_common.events.content import AnswerInvited
from agora_common.events.dispatch import EventHandlers
from agora_common.ids import new_id, utcnow
from pymongo.errors import DuplicateKeyError

from agora_users.adapters import store as c
from agora_users.adapters.store import Store

log = logging.getLogger(__name__)

KIND = "answer_invitation"
DEFAULT_BODY = "An operator invited you to answer this question."

HANDLERS: EventHandlers[Any] = EventHandlers("users.invitations")


def question_link(question_id: str) -> str:
    return f"/api/v1/content/questions/{question_id}"


@HANDLERS.on(AnswerInvited)
async def _invited(event: AnswerInvited, envelope: Envelope, *, store: Store) -> None:
    member = await store[c.USERS].find_one({"_id": event.invitee_id, "status": {"$ne": "deleted"}}, {"_id": 1})
    if member is None:
        log.info("answer invitation for an unknown or deleted account dropped", extra={"event_id": envelope.id})
        return
    # the same event applied at the same moment by another instance: the unique index refuses the second row
    with suppress(DuplicateKeyError):
        await store[c.INBOX].update_one(
            {"source_id": event.invitation_id, "user_id": event.invitee_id},
            {"$setOnInsert": {"_id": new_id(), "kind": KIND, "event_id": envelope.id, "question_id": event.post_id,
                              "title": event.title, "body": event.note or DEFAULT_BODY,
                              "link": question_link(event.post_id), "sent_by": event.invited_by, "read": False,
                              "read_at": None, "created_at": utcnow()}},
            upsert=True)


async def handle_content_event(envelope: Envelope, *, store: Store) -> None:
    await HANDLERS.dispatch(envelope, store=store)

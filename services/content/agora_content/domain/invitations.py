"""Invitations to answer a question (pure rules, no I/O): who may be invited, and when an invitation is answered.

A question keeps its invitations (`invited`: id, user_id, invited_by, note, invited_at, answered, answer_id,
answered_at), at most MAX_INVITATIONS. An invitation is answered by the invitee's first answer to the question after
it; it stays answered if that answer is later deleted (the invitation did its work).
"""

from datetime import UTC, datetime
from typing import Any

from agora_common.errors import Conflict, InvalidInput, NotFound

MAX_INVITATIONS = 20


def ensure_invitable(question: dict, member: dict | None, user_id: str, *, now: datetime,
                     has_answered: bool) -> None:
    """Refuse, naming why: the asker (422), a member content has not heard of (404), a deleted account or a running
    suspension (409), someone already invited or who already answered (409), a question with too many invitations."""
    if user_id == question.get("author_id"):
        raise InvalidInput("the asker cannot be invited to answer their own question", code="cannot_invite_asker")
    if member is None:
        raise NotFound(f"no member {user_id} (or not known to content yet)", code="member_not_found")
    if member.get("deleted"):
        raise Conflict("this member's account has been deleted", code="member_deleted")
    if member.get("suspended"):
        until: datetime | None = member.get("suspended_until")
        if until is not None and until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        if until is None or until > now:
            raise Conflict("this member is suspended" + (f" until {until.isoformat()}" if until else ""),
                           code="member_suspended", details={"until": until.isoformat() if until else None})
    invited = question.get("invited") or []
    if any(i["user_id"] == user_id for i in invited):
        raise Conflict("this member has already been invited to answer this question", code="already_invited")
    if has_answered:
        raise Conflict("this member has already answered this question", code="already_answered")
    if len(invited) >= MAX_INVITATIONS:
        raise Conflict(f"a question takes at most {MAX_INVITATIONS} invitations", code="too_many_invitations")


def answered(question: dict, answer: dict) -> dict[str, Any]:
    """The `$set` that marks the invitation `answer` fulfils as answered ({} if it fulfils none)."""
    invited = question.get("invited") or []
    if not any(i["user_id"] == answer["author_id"] and not i.get("answered") for i in invited):
        return {}
    return {"invited": [
        {**i, "answered": True, "answer_id": answer["_id"], "answered_at": answer["created_at"]}
        if i["user_id"] == answer["author_id"] and not i.get("answered") else i
        for i in invited
    ]}

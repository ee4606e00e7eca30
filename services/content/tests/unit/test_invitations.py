"""Who may be invited to answer a question, and when an invitation is answered (pure rules)."""

from datetime import UTC, datetime, timedelta

import pytest
from agora_common.errors import AgoraError
from agora_content.domain.invitations import MAX_INVITATIONS, answered, ensure_invitable

NOW = datetime(2026, 6, 1, tzinfo=UTC)
QUESTION = {"_id": "q", "author_id": "alice", "invited": [{"id": "i1", "user_id": "bob", "answered": False}]}


@pytest.mark.parametrize(("user_id", "member", "has_answered", "status", "code"), [
    ("alice", {"_id": "alice"}, False, 422, "cannot_invite_asker"),
    ("ghost", None, False, 404, "member_not_found"),
    ("dave", {"_id": "dave", "deleted": True}, False, 409, "member_deleted"),
    ("carol", {"_id": "carol", "suspended": True, "suspended_until": None}, False, 409, "member_suspended"),
    ("carol", {"_id": "carol", "suspended": True, "suspended_until": NOW + timedelta(days=1)}, False, 409,
     "member_suspended"),
    ("bob", {"_id": "bob"}, False, 409, "already_invited"),
    ("erin", {"_id": "erin"}, True, 409, "already_answered"),
])
def test_refusals_name_why(user_id, member, has_answered, status, code):
    with pytest.raises(AgoraError) as err:
        ensure_invitable(QUESTION, member, user_id, now=NOW, has_answered=has_answered)
    assert (err.value.status_code, err.value.code) == (status, code)


def test_who_may_be_invited():
    ensure_invitable(QUESTION, {"_id": "erin"}, "erin", now=NOW, has_answered=False)
    lapsed = {"_id": "carol", "suspended": True, "suspended_until": NOW - timedelta(seconds=1)}
    ensure_invitable(QUESTION, lapsed, "carol", now=NOW, has_answered=False)  # the suspension has ended
    full = {**QUESTION, "invited": [{"user_id": f"u{i}"} for i in range(MAX_INVITATIONS)]}
    with pytest.raises(AgoraError) as err:
        ensure_invitable(full, {"_id": "erin"}, "erin", now=NOW, has_answered=False)
    assert err.value.code == "too_many_invitations"


def test_the_invitees_answer_answers_the_invitation_once():
    answer = {"_id": "a1", "author_id": "bob", "created_at": NOW}
    change = answered(QUESTION, answer)
    assert change == {"invited": [{"id": "i1", "user_id": "bob", "answered": True, "answer_id": "a1",
                                   "answered_at": NOW}]}
    assert answered({**QUESTION, **change}, {**answer, "_id": "a2"}) == {}  # a second answer changes nothing
    assert answered(QUESTION, {**answer, "author_id": "erin"}) == {}        # nor does someone else's

"""Pure rules: password policy, title names, roles and moderation rank, event-to-activity mapping, CSV cells."""

from datetime import UTC, datetime, timedelta

import pytest
from agora_common.events import Envelope
from agora_common.events import community as ev
from agora_common.events import content as ct
from agora_common.events.users import SigJoined, UserRegistered
from agora_users.api.exports import cell as _cell
from agora_users.domain.activity import Action, Evidence, facts_for
from agora_users.domain.passwords import password_problems
from agora_users.domain.titles import clean_title, title_key
from agora_users.domain.users import email_key, is_suspended, may_suspend, normalize_roles

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_password_policy_lists_every_problem():
    assert password_problems("correct horse battery", min_length=10, max_length=64) == []
    assert password_problems("short", min_length=10, max_length=64) == ["must be at least 10 characters long"]
    assert "must contain at least 4 different characters" in password_problems("aaaaaaaaaaaa", min_length=10,
                                                                               max_length=64)
    assert password_problems("x" * 65 + "abcd", min_length=10, max_length=64) == ["must be at most 64 characters long"]
    assert "must not be only whitespace" in password_problems(" " * 12, min_length=10, max_length=64)
    assert "must not be the email address" in password_problems("Ada@Example.com", min_length=10, max_length=64,
                                                                email="ada@example.com")
    assert "must not be the display name" in password_problems("Ada Lovelace", min_length=10, max_length=64,
                                                               display_name="ada lovelace")


def test_title_names_compare_without_case_or_separators():
    assert title_key("Talented_Speaker") == title_key(" talented  speaker ") == title_key("talented-speaker")
    assert clean_title("  Talented   Speaker ") == "Talented Speaker"


def test_roles_and_rank():
    assert normalize_roles(["operator", "operator"]) == ["member", "operator"]
    with pytest.raises(ValueError):
        normalize_roles(["king"])
    assert email_key(" Ada@Example.COM ") == "ada@example.com"
    assert may_suspend(["member", "moderator"], ["member"])
    assert not may_suspend(["member", "moderator"], ["member", "moderator"])
    assert may_suspend(["operator"], ["member", "moderator"])
    assert not may_suspend(["operator"], ["operator"])
    assert not may_suspend(["member"], ["member"])


def test_suspension_expires():
    user = {"status": "suspended", "suspension": {"until": NOW + timedelta(days=1)}}
    assert is_suspended(user, NOW)
    assert not is_suspended(user, NOW + timedelta(days=2))
    assert is_suspended({"status": "suspended", "suspension": {"until": None}}, NOW)
    assert not is_suspended({"status": "active"}, NOW)


def wrap(event, actor=None, subject="s"):
    return Envelope.wrap(event, subject=subject, version=1, actor=actor, time=NOW)


def test_activity_facts():
    asked = facts_for(wrap(ct.QuestionAsked(post_id="q", author_id="u1", title="t", body="b", created_at=NOW),
                           actor="u1"))
    assert asked == [Action("u1", NOW, contribution=True)]

    accepted = facts_for(wrap(ct.AnswerAccepted(post_id="a", author_id="u2", asker_id="u1"), actor="u1"))
    assert Action("u1", NOW) in accepted and Evidence("u2", "accepted_answers", "a", True) in accepted

    revoked = facts_for(wrap(ct.AcceptanceRevoked(post_id="a", author_id="u2", asker_id="u1")))
    assert revoked == [Evidence("u2", "accepted_answers", "a", False)]

    deleted = facts_for(wrap(ct.PostDeleted(post_id="p", post_type="article", author_id="u3", deleted_by="m")))
    assert deleted == [Evidence("u3", "articles", "p", False)]

    talk = facts_for(wrap(ev.SpeakerConfirmed(event_id="e", kind="meetup", user_id="u4")))
    assert Action("u4", NOW, contribution=True) in talk and Evidence("u4", "talks", "e", True) in talk

    checked_in = facts_for(wrap(ev.AttendeeCheckedIn(event_id="e", kind="meetup", registration_id="r", user_id="u5",
                                                     checked_in_at=NOW)))
    assert checked_in == [Action("u5", NOW)]

    assert facts_for(wrap(UserRegistered(user_id="u6", display_name="x", registered_at=NOW), actor="u6")) == []
    assert facts_for(wrap(SigJoined(sig_id="s", user_id="u6"), actor="u6")) == [Action("u6", NOW)]

    anonymous = facts_for(wrap(ct.QuestionAsked(post_id="q", author_id=None, title="t", body="b", created_at=NOW)))
    assert anonymous == []


def test_csv_cells_cannot_become_formulas():
    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _cell("+1") == "'+1" and _cell("Ada") == "Ada"
    assert _cell(["a", "b"]) == "a;b" and _cell(None) == ""
    assert _cell(NOW) == NOW.isoformat()

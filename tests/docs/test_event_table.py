"""docs/events.md says who publishes and who consumes each event type, as the code does."""

from agora_devservers import event_table
from agora_users.domain.activity import RULES


def test_the_committed_event_table_matches_the_code():
    assert event_table.DOC.read_text() == event_table.render(), "docs/events.md is out of date: run make docs"


def test_the_table_lists_each_registered_handler_and_the_points_rules():
    by_type = event_table.consumers_by_type()
    assert "content.members" in by_type["UserSuspended"] and "events.members" in by_type["UserDeleted"]
    assert "points.scoring" in by_type["PostVoted"] and "search.indexer" in by_type["PostVoted"]
    assert set(RULES.event_types) == {name for name, consumers in by_type.items() if "users.activity" in consumers}
    # display names on the boards, on the expert lists and on search hits
    assert sorted(by_type["UserRegistered"]) == ["content.members", "points.scoring", "search.members"]
    # titles on the expert lists; scoped titles (a tag's experts) on search hits too
    assert sorted(by_type["HonorTitleGranted"]) == sorted(by_type["HonorTitleRevoked"]) == [
        "content.members", "search.members"]
    # an invitation to answer lands in the invitee's inbox (and counts as the operator's action)
    assert sorted(by_type["AnswerInvited"]) == ["users.activity", "users.invitations"]

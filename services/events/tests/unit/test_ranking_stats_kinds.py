import pytest
from agora_common.errors import InvalidInput
from agora_events.domain.kinds import check_details
from agora_events.domain.ranking import Entry, rank
from agora_events.domain.stats import event_figures, series_figures


def test_mean_scores_ties_share_a_place_and_unscored_are_left_out():
    placed = rank([
        Entry("s1", "u1", "1", (80, 90)),
        Entry("s2", "u2", "2", (85,)),
        Entry("s3", "u3", "3", (95, 75)),
        Entry("s4", "u4", "4", (70,)),
        Entry("s5", "u5", "5", ()),
    ])
    assert [(p.user_id, p.place, p.score) for p in placed] == [
        ("u1", 1, 85.0), ("u2", 1, 85.0), ("u3", 1, 85.0), ("u4", 4, 70.0)]


def test_rates():
    f = event_figures({"confirmed": 40, "waitlisted": 3, "checked_in": 30}, ended=True, capacity=50)
    assert f["attendance_rate"] == 0.75 and f["no_show_rate"] == 0.25 and f["fill_rate"] == 0.8
    assert event_figures({"confirmed": 0}, ended=True, capacity=None)["attendance_rate"] is None
    assert event_figures({"confirmed": 4, "checked_in": 1}, ended=False, capacity=None)["no_show_rate"] is None
    s = series_figures([
        {**event_figures({"confirmed": 10, "checked_in": 5}, ended=True, capacity=None), "ended": True},
        {**event_figures({"confirmed": 10, "checked_in": 10}, ended=True, capacity=None), "ended": True},
        {**event_figures({"confirmed": 10, "checked_in": 0}, ended=False, capacity=None), "ended": False},
    ])
    assert s["attendance_rate"] == 0.75 and s["no_show_rate"] == 0.25 and s["confirmed"] == 30


@pytest.mark.parametrize("kind, fields, missing", [
    ("meetup", {"city": "Oslo"}, "venue"),
    ("qa_session", {}, "topic"),
    ("peer_exchange", {"industry": "fintech", "online": False}, "city"),
])
def test_kind_requirements(kind, fields, missing):
    with pytest.raises(InvalidInput, match=missing):
        check_details(kind, fields)


def test_kinds_that_are_complete():
    check_details("meetup", {"city": "Oslo", "venue": "Hub", "online": False})
    check_details("peer_exchange", {"industry": "fintech", "online": True})
    check_details("training", {})

"""The demand report's pure rules: which zero-hit searches are kept, ranking, and the event drafts."""

from datetime import UTC, datetime

import pytest
from agora_common.events import content as ev
from agora_search.api.demand_schemas import EventDraft
from agora_search.domain import demand as d
from agora_search.domain.query import SearchParams


@pytest.mark.parametrize(("raw", "kept"), [
    ("  Flux   CAPACITOR ", "flux capacitor"),
    ("Ｋａｆｋａ exactly-once", "kafka exactly-once"),  # full-width letters: one query with the ASCII form
    ("存储", "存储"),
    ("k8", "k8"),
    ("x", None),  # one character
    ("锁", None),
    ("!!!???", None),  # no letter or digit
    ("aaaaaaa", None),  # one character repeated
    ("", None),
    (None, None),
    ("q" * 101, None),  # pasted text
    ("mail me at someone@example.org", None),  # personal data never kept
    ("call 13812345678", None),
])
def test_queries_are_normalised_and_junk_is_ignored(raw, kept):
    assert d.normalise_query(raw) == kept


def test_only_searches_no_narrow_filter_explains_count():
    assert d.zero_hit_worthy(SearchParams(q="Flux capacitor", tags=("kafka",), sig="s", type="article")) == \
        "flux capacitor"
    for narrow in ({"author": "u1"}, {"event": "e1"}, {"answered": False}, {"accepted": True},
                   {"date_from": datetime(2026, 1, 1, tzinfo=UTC)}, {"tags": ("t" * 51,)}):
        assert d.zero_hit_worthy(SearchParams(q="Flux capacitor", **narrow)) is None
    assert d.zero_hit_worthy(SearchParams(q=None)) is None


def test_a_key_per_query_and_filter():
    assert d.zero_hit_id("kafka", ("b", "a"), None) == d.zero_hit_id("kafka", ("a", "b"), None)
    assert len({d.zero_hit_id("kafka", (), None), d.zero_hit_id("kafka", ("a",), None),
                d.zero_hit_id("kafka", (), "sig")}) == 3


def test_activity_is_questions_answers_and_new_votes():
    ask = ev.QuestionAsked(post_id="q1", author_id="u1", tags=["kafka"], sig_id="s", title="t", body="b",
                           created_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert d.activity_of(ask) == d.Activity("question", "q1", ("kafka",), "s", None)
    answer = ev.AnswerPosted(post_id="a1", question_id="q1", author_id="u2", tags=["kafka"], body="b",
                             question_author_id="u1", created_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert d.activity_of(answer) == d.Activity("answer", "a1", ("kafka",), None, "u2")
    vote = ev.PostVoted(post_id="q1", post_type="question", author_id="u1", voter_id="v", value=1, score=1)
    assert d.activity_of(vote).kind == "vote"
    assert d.activity_of(vote.model_copy(update={"previous_value": -1})) is None  # changed, not new
    assert d.activity_of(ev.PostHidden(post_id="a1", post_type="answer", author_id="u2", moderator_id="m")) == \
        d.Visibility("a1", False)
    assert d.activity_of(ev.PostRestored(post_id="a1", post_type="answer", author_id="u2", restored_by="m")) == \
        d.Visibility("a1", True)
    assert d.activity_of(ev.AnswerAccepted(post_id="a1", question_id="q1", author_id="u2", asker_id="u1")) is None


def test_under_served_ranks_the_widest_gap_first():
    rows = d.under_served({"kafka": 10, "storage": 4, "python": 4, "rare": 1},
                          {"kafka": 2, "python": 4}, {"kafka": 1}, min_followers=2, limit=10)
    # python got as many answers as it has followers: served; rare has too few followers
    assert [(r["tag"], r["followers"], r["answers"], r["answerers"], r["ratio"]) for r in rows] == [
        ("storage", 4, 0, 0, 0.0), ("kafka", 10, 2, 1, 0.2)]  # 4 / 1 > 10 / 3
    assert len(d.under_served({"a": 5, "b": 5}, {}, {}, min_followers=1, limit=1)) == 1


def test_trending_ranks_the_fastest_growth_first():
    rows = d.trending({"kafka": 8, "new": 3, "flat": 4, "once": 1, "down": 2}, {"kafka": 2, "flat": 4, "down": 5},
                      limit=10)
    assert [(r["tag"], r["this_period"], r["previous_period"], r["growth"]) for r in rows] == [
        ("new", 3, 0, None), ("kafka", 8, 2, 3.0)]  # (3+1)/1 = 4 > (8+1)/3 = 3


def test_drafts_are_valid_event_bodies():
    options = d.DraftOptions(kind="qa_session", starts_at=d.default_start(datetime(2026, 3, 1, 15, tzinfo=UTC)))
    assert options.starts_at == datetime(2026, 3, 15, 12, tzinfo=UTC)
    row = {"question_id": "q1", "title": "How do I " + "tune " * 60 + "Kafka?", "tags": ["Kafka", "kafka"],
           "sig_id": "s1", "age_days": 12.5}
    draft = EventDraft.model_validate(d.unanswered_draft(options, row))
    assert draft.kind == "qa_session" and draft.online and draft.sig_id == "s1" and draft.tags == ["kafka"]
    assert draft.title.startswith("Q&A: How do I tune") and len(draft.title) <= 200 and draft.title.endswith("…")
    assert (draft.ends_at - draft.starts_at).total_seconds() == 3600
    assert "12.5 days" in draft.description and "q1" in draft.description

    peer = d.DraftOptions(kind="peer_exchange", starts_at=options.starts_at, industry="Finance", city="Shanghai",
                          sig_id="s2")
    draft = EventDraft.model_validate(d.under_served_draft(
        peer, {"tag": "kafka", "followers": 9, "answers": 1, "answerers": 1, "ratio": 0.111}, period_days=7))
    assert (draft.kind, draft.industry, draft.city, draft.online, draft.sig_id) == \
        ("peer_exchange", "Finance", "Shanghai", False, "s2")
    assert draft.title == "Peer exchange: kafka" and "9 members follow #kafka" in draft.description
    assert (draft.ends_at - draft.starts_at).total_seconds() == 7200

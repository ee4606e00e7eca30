"""Expert aggregates, the pure part: what an answer contributes, and the change of an answer as row changes."""

from datetime import UTC, datetime, timedelta

from agora_content.domain.expertise import Contribution, apply_first, changes, contribution, median

T0 = datetime(2026, 1, 1, tzinfo=UTC)
QUESTION = {"_id": "q", "type": "question", "author_id": "alice", "created_at": T0, "deleted": False, "hidden": False}


def answer(**fields) -> dict:
    return {"_id": "a", "type": "answer", "author_id": "bob", "tags": ["k8s", "helm"], "sig_id": None,
            "score": 0, "accepted": False, "deleted": False, "hidden": False, "created_at": T0 + timedelta(minutes=5),
            "first_answer_seconds": 300, **fields}


def test_a_visible_answer_counts_in_its_tags_and_sigs():
    c = contribution(answer(accepted=True, score=3, sig_id="s1"), QUESTION, ["s2", "s1"])
    assert c == Contribution(user_id="bob", scopes=["tag:k8s", "tag:helm", "sig:s1", "sig:s2"], accepted=1, score=3,
                             first_seconds=300, at=T0 + timedelta(minutes=5))


def test_what_does_not_count():
    assert contribution(answer(deleted=True), QUESTION, []) is None
    assert contribution(answer(hidden=True), QUESTION, []) is None
    assert contribution(answer(author_id=None), QUESTION, []) is None  # account deleted
    assert contribution(answer(), {**QUESTION, "deleted": True}, []) is None
    assert contribution(answer(), {**QUESTION, "hidden": True}, []) is None
    assert contribution(answer(), None, []) is None
    # the asker accepting their own answer is no acceptance
    assert contribution(answer(author_id="alice", accepted=True), QUESTION, []).accepted == 0


def test_changes_are_differences_per_member_and_scope():
    before = contribution(answer(), QUESTION, [])
    voted = contribution(answer(score=2, accepted=True), QUESTION, [])
    out = changes(before, voted)
    assert set(out) == {("bob", "tag:k8s"), ("bob", "tag:helm")}
    change = out[("bob", "tag:k8s")]
    assert (change.answers, change.accepted, change.score, change.first_added, change.first_removed,
            change.active_at) == (0, 1, 2, [], [], None)
    assert changes(voted, voted) == {}

    retagged = contribution(answer(tags=["helm", "charts"]), QUESTION, [])
    out = changes(before, retagged)
    assert set(out) == {("bob", "tag:k8s"), ("bob", "tag:charts")}  # helm: unchanged
    assert (out[("bob", "tag:k8s")].answers, out[("bob", "tag:k8s")].first_removed) == (-1, [300])
    assert (out[("bob", "tag:charts")].answers, out[("bob", "tag:charts")].first_added) == (1, [300])
    assert out[("bob", "tag:charts")].active_at == T0 + timedelta(minutes=5)

    gone = changes(before, None)
    assert {k: (c.answers, c.first_removed) for k, c in gone.items()} == {
        ("bob", "tag:k8s"): (-1, [300]), ("bob", "tag:helm"): (-1, [300])}


def test_median_and_first_answer_lists():
    assert median([]) is None and median([5]) == 5.0 and median([1, 2, 10]) == 2.0 and median([1, 3, 10, 20]) == 6.5
    first = changes(None, contribution(answer(first_answer_seconds=60), QUESTION, []))[("bob", "tag:k8s")]
    assert apply_first([30, 60, 90], first) == [30, 60, 60, 90]
    removed = changes(contribution(answer(first_answer_seconds=60), QUESTION, []), None)[("bob", "tag:k8s")]
    assert apply_first([30, 60, 60, 90], removed) == [30, 60, 90]  # one occurrence only

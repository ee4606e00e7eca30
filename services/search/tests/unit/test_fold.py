"""The fold of content events into search documents: order independence, idempotence, visibility, answers."""

import html
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from agora_common.events import BadEvent, Envelope
from agora_common.events import content as ev
from agora_search.domain import fold

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def wrap(event, version, *, minutes=0):
    return Envelope.wrap(event, subject=event.post_id, version=version, time=T0 + timedelta(minutes=minutes))


def asked(version=1, title="How to configure storage", tags=("k8s",)):
    return wrap(ev.QuestionAsked(post_id="q1", author_id="u1", tags=list(tags), title=title, body="body text",
                                 created_at=T0), version)


def answer(aid, version=1, body="use a PVC"):
    return wrap(ev.AnswerPosted(post_id=aid, question_id="q1", author_id="u2", body=body, question_author_id="u1",
                                created_at=T0), version, minutes=1)


def fold_all(envelopes):
    state = fold.new_state()
    for e in envelopes:
        fold.apply(state, e, e.payload())
    return fold.project("q1", state)


def test_question_with_answer_and_acceptance():
    doc = fold_all([
        asked(),
        answer("a1"),
        answer("a2", body="use hostPath"),
        wrap(ev.AnswerAccepted(post_id="a2", question_id="q1", author_id="u2", asker_id="u1"), 2, minutes=2),
    ])
    assert doc["visible"] and doc["type"] == "question"
    assert doc["answer_count"] == 2 and doc["answered"]
    assert doc["has_accepted"] and doc["accepted_answer_id"] == "a2"
    assert "use a PVC" in doc["answers_text"] and "use hostPath" in doc["answers_text"]


def test_every_order_of_a_question_history_gives_the_same_document():
    history = [
        asked(1),
        wrap(ev.PostVoted(post_id="q1", post_type="question", author_id="u1", tags=["k8s"], voter_id="v", value=1,
                          score=1), 2),
        wrap(ev.QuestionEdited(post_id="q1", author_id="u1", tags=["k8s", "storage"], title="Configure storage",
                               body="new body", editor_id="u1", revision=2), 3),
        wrap(ev.PostVoted(post_id="q1", post_type="question", author_id="u1", tags=["k8s", "storage"], voter_id="w",
                          value=1, score=2), 4),
        wrap(ev.PostDeleted(post_id="q1", post_type="question", author_id="u1", tags=["k8s", "storage"],
                            deleted_by="m"), 5),
        wrap(ev.PostRestored(post_id="q1", post_type="question", author_id="u1", tags=["k8s", "storage"],
                             restored_by="m"), 6),
    ]
    expected = fold_all(history)
    assert expected["title"] == "Configure storage" and expected["score"] == 2
    assert expected["tags"] == ["k8s", "storage"] and expected["visible"]
    expected.pop("state")  # bookkeeping: dict order may differ, the searchable fields may not
    for order in itertools.permutations(history):
        doc = fold_all(order)
        doc.pop("state")
        assert doc == expected


def test_duplicates_change_nothing():
    state = fold.new_state()
    first = asked()
    assert fold.apply(state, first, first.payload())
    assert not fold.apply(state, first, first.payload())


def test_older_event_does_not_overwrite_newer_state():
    deleted = wrap(ev.PostDeleted(post_id="q1", post_type="question", author_id="u1", deleted_by="m"), 3)
    restored = wrap(ev.PostRestored(post_id="q1", post_type="question", author_id="u1", restored_by="m"), 4)
    assert fold_all([asked(), restored, deleted])["visible"]
    assert not fold_all([asked(), deleted])["visible"]


def test_hidden_and_deleted_answers_are_not_counted_or_searchable():
    hidden = wrap(ev.PostHidden(post_id="a1", post_type="answer", question_id="q1", author_id="u2",
                                moderator_id="m"), 2)
    doc = fold_all([asked(), answer("a1", body="secret"), answer("a2"), hidden])
    assert doc["answer_count"] == 1 and "secret" not in doc["answers_text"]


def test_acceptance_revoked_and_accepted_answer_deleted():
    accepted = wrap(ev.AnswerAccepted(post_id="a1", question_id="q1", author_id="u2", asker_id="u1"), 2)
    revoked = wrap(ev.AcceptanceRevoked(post_id="a1", question_id="q1", author_id="u2", asker_id="u1"), 3)
    assert not fold_all([asked(), answer("a1"), revoked, accepted])["has_accepted"]
    deleted = wrap(ev.PostDeleted(post_id="a1", post_type="answer", question_id="q1", author_id="u2",
                                  deleted_by="m"), 3)
    doc = fold_all([asked(), answer("a1"), accepted, deleted])
    assert not doc["has_accepted"] and doc["answer_count"] == 0 and not doc["answered"]


def test_answer_before_question_is_kept_but_invisible_until_the_question_arrives():
    doc = fold_all([answer("a1")])
    assert not doc["visible"] and doc["answer_count"] == 1
    assert fold_all([answer("a1"), asked()])["visible"]


def test_article_unpublish_and_republish():
    published = wrap(ev.ArticlePublished(post_id="q1", author_id="u1", title="Intro", body="b", published_at=T0), 1)
    unpublished = wrap(ev.ArticleUnpublished(post_id="q1", author_id="u1"), 2)
    republished = wrap(ev.ArticlePublished(post_id="q1", author_id="u1", title="Intro 2", body="b", published_at=T0), 3)
    assert not fold_all([published, unpublished])["visible"]
    doc = fold_all([republished, unpublished, published])
    assert doc["visible"] and doc["title"] == "Intro 2" and doc["type"] == "article" and doc["answer_count"] == 0


def test_answer_without_question_is_a_bad_event():
    with pytest.raises(BadEvent):
        fold.target_doc_id(ev.AnswerPosted(post_id="a1", author_id="u", body="b", question_author_id=None,
                                           created_at=T0))


def test_comments_are_not_indexed():
    comment = ev.CommentPosted(post_id="c1", author_id="u", body="b", parent_id="q1", question_id="q1", created_at=T0)
    assert fold.target_doc_id(comment) is None


def test_summary_is_escaped_and_short():
    text = fold.summary("<script>x</script> " + "word " * 200)
    assert text.startswith("&lt;script&gt;") and len(html.unescape(text)) <= fold.SUMMARY_CHARS + 1


def test_deleted_authors_are_dropped_from_posts_and_answers():
    state = fold.new_state()
    for e in [asked(), answer("a1")]:
        fold.apply(state, e, e.payload())
    assert fold.authors(state) == {"u1", "u2"}
    assert fold.anonymise(state, {"u2"})
    doc = fold.project("q1", state)
    assert doc["author_id"] == "u1" and doc["answer_author_ids"] == [] and doc["answer_count"] == 1
    assert not fold.anonymise(state, {"u2"})  # idempotent

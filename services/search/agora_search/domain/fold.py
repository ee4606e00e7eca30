"""Folds content events into one search document per question or article (answers fold into their question).

Events are not snapshots (a vote carries the score, an edit the text), so a document keeps, per aggregate and per
group of fields, the aggregate version that last wrote that group. An event changes a group only if its version
is higher: duplicates change nothing and a late, older event cannot overwrite a newer state, whatever the order.
Answers are aggregates of their own with their own versions, kept per answer inside the question's state.
Nothing is ever physically deleted: a deleted post stays as an invisible tombstone so that a restore works and a
late event cannot bring back an older state.
"""

import html
from collections.abc import Callable
from datetime import datetime
from typing import Any

from agora_common.events import BadEvent, DomainEvent, Envelope
from agora_common.events import content as ev
from agora_common.events.dispatch import EventHandlers

SUMMARY_CHARS = 300
ANSWERS_TEXT_LIMIT = 100_000  # keep a question with thousands of answers indexable

State = dict[str, Any]


def target_doc_id(event: DomainEvent) -> str | None:
    """The document an event changes, or None if search does not index it (comments, resources)."""
    if not isinstance(event, ev.PostRef) or event.post_type == "comment":
        return None
    if event.post_type == "answer":
        if not event.question_id:
            raise BadEvent("missing_question_id", f"{event.event_type} for answer {event.post_id} has no question_id")
        return event.question_id
    return event.post_id


def new_state() -> State:
    return {"type": None, "v": {}, "answers": {}}


def _put(target: State, group: str, version: int, **fields: Any) -> bool:
    """Write a group of fields if this version is newer than the one that last wrote the group."""
    versions = target.setdefault("v", {})
    if version <= versions.get(group, 0):
        return False
    versions[group] = version
    target.update(fields)
    return True


def _iso(value: datetime) -> str:
    return value.isoformat()


Fold = Callable[[State, Any, Envelope], bool]
# How each content event changes the fields of the document (or answer) it targets.
FOLDS: EventHandlers[Fold] = EventHandlers("search.indexer")


@FOLDS.on(ev.QuestionAsked)
def _asked(target: State, event: ev.QuestionAsked, envelope: Envelope) -> bool:
    changed = _put(target, "content", envelope.version, title=event.title, body=event.body)
    changed |= _put(target, "event", envelope.version, event_id=event.event_id)  # an online Q&A session's
    return _put(target, "created", envelope.version, created_at=_iso(event.created_at)) | changed


@FOLDS.on(ev.ArticlePublished)
def _published(target: State, event: ev.ArticlePublished, envelope: Envelope) -> bool:
    changed = _put(target, "content", envelope.version, title=event.title, body=event.body)
    changed |= _put(target, "created", envelope.version, created_at=_iso(event.published_at))
    return _put(target, "published", envelope.version, published=True) | changed


@FOLDS.on(ev.QuestionEdited, ev.ArticleEdited)
def _edited(target: State, event: Any, envelope: Envelope) -> bool:
    return _put(target, "content", envelope.version, title=event.title, body=event.body)


@FOLDS.on(ev.ArticleUnpublished)
def _unpublished(target: State, event: ev.ArticleUnpublished, envelope: Envelope) -> bool:
    return _put(target, "published", envelope.version, published=False)


@FOLDS.on(ev.AnswerPosted)
def _answered(target: State, event: ev.AnswerPosted, envelope: Envelope) -> bool:
    changed = _put(target, "content", envelope.version, body=event.body)
    return _put(target, "created", envelope.version, created_at=_iso(event.created_at)) | changed


@FOLDS.on(ev.AnswerEdited)
def _answer_edited(target: State, event: ev.AnswerEdited, envelope: Envelope) -> bool:
    return _put(target, "content", envelope.version, body=event.body)


@FOLDS.on(ev.AnswerAccepted)
def _accepted(target: State, event: ev.AnswerAccepted, envelope: Envelope) -> bool:
    return _put(target, "accepted", envelope.version, accepted=True, accepted_at=_iso(envelope.time))


@FOLDS.on(ev.AcceptanceRevoked)
def _acceptance_revoked(target: State, event: ev.AcceptanceRevoked, envelope: Envelope) -> bool:
    return _put(target, "accepted", envelope.version, accepted=False)


@FOLDS.on(ev.PostVoted, ev.VoteRetracted)
def _scored(target: State, event: Any, envelope: Envelope) -> bool:
    return _put(target, "score", envelope.version, score=event.score)


@FOLDS.on(ev.PostDeleted, ev.PostRestored)
def _deleted(target: State, event: Any, envelope: Envelope) -> bool:
    return _put(target, "deleted", envelope.version, deleted=isinstance(event, ev.PostDeleted))


@FOLDS.on(ev.PostHidden, ev.PostUnhidden)
def _hidden(target: State, event: Any, envelope: Envelope) -> bool:
    return _put(target, "hidden", envelope.version, hidden=isinstance(event, ev.PostHidden))


def apply(state: State, envelope: Envelope, event: DomainEvent) -> bool:
    """Apply one event to a document's state in place; returns whether anything changed."""
    if not isinstance(event, ev.PostRef) or event.post_type == "comment":
        return False
    version = envelope.version
    if event.post_type == "answer":
        target = state["answers"].setdefault(event.post_id, {"v": {}})
        if state["type"] is None:
            state["type"] = "question"
    else:
        target = state
        if state["type"] is None:
            state["type"] = event.post_type
    changed = _put(target, "meta", version, tags=list(event.tags), author_id=event.author_id, sig_id=event.sig_id)

    fold = FOLDS.handler_for(event.event_type)
    if fold is not None:
        changed |= fold(target, event, envelope)
    if changed:
        previous = state.get("updated_at")
        now = _iso(envelope.time)
        state["updated_at"] = max(previous, now) if previous else now
    return changed


def authors(state: State) -> set[str]:
    """Every user id the document holds: the post's author and its answers' authors."""
    ids = {state.get("author_id")} | {a.get("author_id") for a in state.get("answers", {}).values()}
    return {i for i in ids if i}


def anonymise(state: State, deleted: set[str]) -> bool:
    """Drop the link to deleted accounts (the content stays, like in the content service); returns whether it
    changed anything. Applied at every write, so a replayed or late event cannot bring a deleted author back."""
    changed = False
    for target in (state, *state.get("answers", {}).values()):
        if target.get("author_id") in deleted:
            target["author_id"] = None
            changed = True
    return changed


def _answer_visible(answer: State) -> bool:
    return answer.get("body") is not None and not answer.get("deleted") and not answer.get("hidden")


def is_visible(state: State) -> bool:
    return (
        state.get("type") in ("question", "article")
        and state.get("title") is not None
        and not state.get("deleted")
        and not state.get("hidden")
        and state.get("published") is not False
    )


def summary(body: str | None) -> str:
    """A plain-text, HTML-escaped excerpt shown when the query highlights nothing in the body."""
    text = " ".join((body or "").split())
    if len(text) > SUMMARY_CHARS:
        text = text[:SUMMARY_CHARS].rstrip() + "…"
    return html.escape(text)


def project(doc_id: str, state: State) -> dict[str, Any]:
    """The indexed document: searchable fields derived from the state, plus the state itself (not indexed)."""
    answers = [(aid, a) for aid, a in state.get("answers", {}).items() if _answer_visible(a)]
    accepted = [(a.get("accepted_at") or "", aid) for aid, a in answers if a.get("accepted")]
    accepted_id = max(accepted)[1] if accepted else None
    answers_text = "\n\n".join(a["body"] for _, a in answers)[:ANSWERS_TEXT_LIMIT]
    is_question = state.get("type") == "question"
    return {
        "id": doc_id,
        "type": state.get("type"),
        "title": state.get("title") or "",
        "body": state.get("body") or "",
        "summary": summary(state.get("body")),
        "answers_text": answers_text,
        "tags": sorted({t.strip().lower() for t in state.get("tags") or [] if t.strip()}),
        "author_id": state.get("author_id"),
        "answer_author_ids": sorted({a["author_id"] for a in state.get("answers", {}).values() if a.get("author_id")}),
        "sig_id": state.get("sig_id"),
        "event_id": state.get("event_id"),
        "created_at": state.get("created_at"),
        "updated_at": state.get("updated_at"),
        "score": state.get("score", 0),
        "answer_count": len(answers) if is_question else 0,
        "answered": bool(answers) and is_question,
        "has_accepted": accepted_id is not None and is_question,
        "accepted_answer_id": accepted_id if is_question else None,
        "accepted_answer_author_id": state["answers"][accepted_id].get("author_id")
        if is_question and accepted_id else None,
        "visible": is_visible(state),
        "state": state,
    }

"""What a domain event means for member segmentation: pure mapping from an event to activity facts.

Definitions (also in the README):
- action: anything a member does that shows up as an event (posting, voting, editing, flagging, registering
  for or attending an event, joining a SIG, following, updating the profile, ...), dated by event time.
  Signing up alone is not an action: a member who registered and did nothing else is "ordinary".
- contribution: creating something for others: a question, answer, comment, published article, resource,
  an organised community event, or a talk as speaker. Counted for the "core" segment.
- contributor evidence: accepted answers, published articles and talks as speaker. Withdrawn when the
  acceptance is revoked, the article unpublished or the post deleted.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from agora_common.events import EVENT_TYPES, Envelope
from agora_common.events import community as ev
from agora_common.events import content as ct
from agora_common.events import users as us
from agora_common.events.dispatch import EventHandlers

EvidenceKind = Literal["accepted_answers", "articles", "talks"]
EVIDENCE_KINDS: tuple[EvidenceKind, ...] = ("accepted_answers", "articles", "talks")


@dataclass(frozen=True)
class Action:
    user_id: str
    time: datetime
    contribution: bool = False


@dataclass(frozen=True)
class Evidence:
    user_id: str
    kind: EvidenceKind
    ref: str
    present: bool  # True: add the evidence; False: withdraw it


Fact = Action | Evidence

FactRule = Callable[[Any, Envelope], list[Fact]]
# What each event says about who took part and who contributed. The actor of every event handled here also
# gets an action.
RULES: EventHandlers[FactRule] = EventHandlers("users.activity")


@RULES.on(ct.QuestionAsked, ct.AnswerPosted, ct.CommentPosted, ct.ResourceAdded)
def _contribution(event: Any, envelope: Envelope) -> list[Fact]:
    return [Action(event.author_id, envelope.time, contribution=True)] if event.author_id else []


@RULES.on(ct.ArticlePublished)
def _article_published(event: ct.ArticlePublished, envelope: Envelope) -> list[Fact]:
    if not event.author_id:
        return []
    return [Action(event.author_id, envelope.time, contribution=True),
            Evidence(event.author_id, "articles", event.post_id, True)]


@RULES.on(ct.ArticleUnpublished)
def _article_unpublished(event: ct.ArticleUnpublished, envelope: Envelope) -> list[Fact]:
    return [Evidence(event.author_id, "articles", event.post_id, False)] if event.author_id else []


@RULES.on(ct.AnswerAccepted)
def _accepted(event: ct.AnswerAccepted, envelope: Envelope) -> list[Fact]:
    facts: list[Fact] = [Action(event.asker_id, envelope.time)] if event.asker_id else []
    if event.author_id:
        facts.append(Evidence(event.author_id, "accepted_answers", event.post_id, True))
    return facts


@RULES.on(ct.AcceptanceRevoked)
def _acceptance_revoked(event: ct.AcceptanceRevoked, envelope: Envelope) -> list[Fact]:
    return [Evidence(event.author_id, "accepted_answers", event.post_id, False)] if event.author_id else []


@RULES.on(ct.PostDeleted)
def _deleted(event: ct.PostDeleted, envelope: Envelope) -> list[Fact]:
    kinds: dict[str, EvidenceKind] = {"article": "articles", "answer": "accepted_answers"}
    kind = kinds.get(event.post_type)
    return [Evidence(event.author_id, kind, event.post_id, False)] if kind and event.author_id else []


@RULES.on(ct.QuestionEdited, ct.AnswerEdited, ct.ArticleEdited)
def _edited(event: Any, envelope: Envelope) -> list[Fact]:
    return [Action(event.editor_id, envelope.time)]


@RULES.on(ct.PostVoted, ct.VoteRetracted)
def _voted(event: Any, envelope: Envelope) -> list[Fact]:
    return [Action(event.voter_id, envelope.time)]


@RULES.on(ct.PostFlagged)
def _flagged(event: ct.PostFlagged, envelope: Envelope) -> list[Fact]:
    return [Action(event.flagger_id, envelope.time)]


@RULES.on(ev.EventPublished)
def _organised(event: ev.EventPublished, envelope: Envelope) -> list[Fact]:
    return [Action(event.organizer_id, envelope.time, contribution=True)]


@RULES.on(ev.SpeakerConfirmed)
def _talk(event: ev.SpeakerConfirmed, envelope: Envelope) -> list[Fact]:
    return [Action(event.user_id, envelope.time, contribution=True),
            Evidence(event.user_id, "talks", event.event_id, True)]


@RULES.on(ev.CompetitionRanked)
def _ranked(event: ev.CompetitionRanked, envelope: Envelope) -> list[Fact]:
    return [Action(p.user_id, envelope.time) for p in event.ranking]


def _member_of_community_event(event: Any, envelope: Envelope) -> list[Fact]:
    # registrations, check-ins, exams, certificates
    return [Action(event.user_id, envelope.time)] if isinstance(event.user_id, str) else []


def _participation(event: Any, envelope: Envelope) -> list[Fact]:
    return []  # the actor's action only


# not participation: signing up alone, the titles this service itself records, and an announcement's delivery
# batches (the operator's action is the announcement: AnnouncementSent)
_NOT_ACTIONS = (us.UserRegistered, us.HonorTitleGranted, us.HonorTitleRevoked, us.AnnouncementDelivered)
_unhandled = [t for t in EVENT_TYPES.values() if t.source in ("content", "events", "users")
              and not RULES.handles(t.event_type) and t not in _NOT_ACTIONS]
RULES.on(*[t for t in _unhandled if t.source == "events" and "user_id" in t.model_fields])(_member_of_community_event)
RULES.on(*[t for t in _unhandled if not RULES.handles(t.event_type)])(_participation)


def facts_for(envelope: Envelope) -> list[Fact]:
    """The segmentation facts one event implies (may be empty). Raises BadEvent for an invalid payload."""
    rule = RULES.handler_for(envelope.type)
    if rule is None or envelope.source not in ("content", "events", "users"):
        return []
    facts: list[Fact] = [Action(envelope.actor, envelope.time)] if envelope.actor else []
    return _dedupe([*facts, *rule(envelope.payload(), envelope)])


def _dedupe(facts: list[Fact]) -> list[Fact]:
    """One action per user per event; a contribution wins over a plain action."""
    actions: dict[str, Action] = {}
    rest: list[Fact] = []
    for f in facts:
        if isinstance(f, Action):
            prev = actions.get(f.user_id)
            if prev is None or (f.contribution and not prev.contribution):
                actions[f.user_id] = f
        else:
            rest.append(f)
    return [*actions.values(), *rest]

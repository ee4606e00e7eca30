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

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from agora_common.events import Envelope
from agora_common.events import community as ev
from agora_common.events import content as ct

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

_CONTRIBUTIONS = (ct.QuestionAsked, ct.AnswerPosted, ct.CommentPosted, ct.ArticlePublished)


def facts_for(envelope: Envelope) -> list[Fact]:
    """The segmentation facts one event implies (may be empty). Raises BadEvent for an invalid payload."""
    if envelope.source not in ("content", "events", "users"):
        return []
    event = envelope.payload()
    t = envelope.time
    facts: list[Fact] = []
    if envelope.actor and envelope.type != "UserRegistered":  # signing up alone is not participation
        facts.append(Action(envelope.actor, t))

    if isinstance(event, _CONTRIBUTIONS) and event.author_id:
        facts.append(Action(event.author_id, t, contribution=True))
    if isinstance(event, ct.ResourceAdded) and event.author_id:
        facts.append(Action(event.author_id, t, contribution=True))
    if isinstance(event, ct.ArticlePublished) and event.author_id:
        facts.append(Evidence(event.author_id, "articles", event.post_id, True))
    if isinstance(event, ct.ArticleUnpublished) and event.author_id:
        facts.append(Evidence(event.author_id, "articles", event.post_id, False))
    if isinstance(event, ct.AnswerAccepted):
        if event.asker_id:
            facts.append(Action(event.asker_id, t))
        if event.author_id:
            facts.append(Evidence(event.author_id, "accepted_answers", event.post_id, True))
    if isinstance(event, ct.AcceptanceRevoked) and event.author_id:
        facts.append(Evidence(event.author_id, "accepted_answers", event.post_id, False))
    if isinstance(event, ct.PostDeleted) and event.author_id:
        if event.post_type == "article":
            facts.append(Evidence(event.author_id, "articles", event.post_id, False))
        elif event.post_type == "answer":
            facts.append(Evidence(event.author_id, "accepted_answers", event.post_id, False))
    if isinstance(event, (ct.QuestionEdited, ct.AnswerEdited, ct.ArticleEdited)):
        facts.append(Action(event.editor_id, t))
    if isinstance(event, (ct.PostVoted, ct.VoteRetracted)):
        facts.append(Action(event.voter_id, t))
    if isinstance(event, ct.PostFlagged):
        facts.append(Action(event.flagger_id, t))

    if isinstance(event, ev.EventPublished):
        facts.append(Action(event.organizer_id, t, contribution=True))
    if isinstance(event, ev.SpeakerConfirmed):
        facts.append(Action(event.user_id, t, contribution=True))
        facts.append(Evidence(event.user_id, "talks", event.event_id, True))
    user_id = getattr(event, "user_id", None)
    if envelope.source == "events" and isinstance(user_id, str) and not isinstance(event, ev.SpeakerConfirmed):
        facts.append(Action(user_id, t))  # registrations, check-ins, exams, certificates
    if isinstance(event, ev.CompetitionRanked):
        facts.extend(Action(p.user_id, t) for p in event.ranking)
    return _dedupe(facts)


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

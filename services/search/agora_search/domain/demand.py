"""The demand report's rules, without I/O: which searches count as "found nothing" and how they are keyed, what the
activity log keeps of each content event, how the sections rank their rows, and the event draft each row becomes.

The report (service/demand.py) reads four things search already has or now keeps:
- the questions of the posts index (unanswered ones, oldest first);
- zero-hit searches, counted per normalised query and filter, never with the user;
- tag follows, from the users topic (TagFollowed / TagUnfollowed);
- an activity log of questions, answers and votes per tag and SIG over the retention window.
"""

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from agora_common.events import content as ev
from agora_common.events.dispatch import EventHandlers

from agora_search.domain.query import SearchParams

MIN_QUERY_CHARS = 2  # one character says nothing about a need (and is most of the noise)
MAX_QUERY_CHARS = 100  # longer ones are pasted text: they never repeat, so counting them tells nothing
# personal data has no place in a report: an email address or a long number (phone, id card, order) in a query
# keeps it out entirely
_EMAIL = re.compile(r"\S+@\S+\.\S+")
_LONG_NUMBER = re.compile(r"\d{7,}")
MAX_TAG_CHARS = 50  # the longest tag members can follow (content's are shorter)

DraftKind = Literal["qa_session", "peer_exchange"]
TITLE_CHARS = 200  # what the events service accepts for a title, topic, city or industry
DRAFT_TAGS = 20
DRAFT_TAG_CHARS = 50
DRAFT_LEAD_DAYS = 14  # a draft starts this many days ahead, at DRAFT_HOUR UTC, unless the operator says when
DRAFT_HOUR = 12
DRAFT_MINUTES: dict[str, int] = {"qa_session": 60, "peer_exchange": 120}
MIN_TRENDING_ACTIVITY = 2  # a single question is not a trend


# --- zero-hit searches ---------------------------------------------------------------------------------------------

def normalise_query(q: str | None) -> str | None:
    """The form a query is counted under (compatibility-normalised, case-folded, single spaces), or None when it
    is not worth keeping: too short or too long, no letter or digit, one character repeated, or personal data."""
    if not q:
        return None
    text = " ".join(unicodedata.normalize("NFKC", q).casefold().split())
    if not MIN_QUERY_CHARS <= len(text) <= MAX_QUERY_CHARS:
        return None
    if not any(ch.isalnum() for ch in text) or len(set(text.replace(" ", ""))) < 2:
        return None
    if _EMAIL.search(text) or _LONG_NUMBER.search(text):
        return None
    return text


def zero_hit_worthy(params: SearchParams) -> str | None:
    """The normalised query of a search that found nothing, if it says something about demand: words were given,
    and no filter narrower than a tag or a SIG (an author, an event, dates, answered/accepted) explains the empty
    result. The type filter is ignored (not kept)."""
    if params.author or params.event or params.date_from or params.date_to:
        return None
    if params.answered is not None or params.accepted is not None:
        return None
    if any(len(t) > MAX_TAG_CHARS for t in params.tags):
        return None  # not a tag anyone can follow or post under
    return normalise_query(params.q)


def zero_hit_id(query: str, tags: tuple[str, ...], sig: str | None) -> str:
    """One document per (query, tag filter, SIG filter)."""
    key = json.dumps([query, sorted(tags), sig], ensure_ascii=False)
    return hashlib.sha256(key.encode()).hexdigest()[:40]


# --- the activity log ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Activity:
    """One question, answer or vote: counted per tag (and SIG) in the report's periods."""

    kind: Literal["question", "answer", "vote"]
    post_id: str  # the post it concerns (the voted post for a vote), so hiding or deleting it drops it
    tags: tuple[str, ...]
    sig_id: str | None
    actor_id: str | None  # answers only: who answered (distinct answerers per tag); nobody else is kept


@dataclass(frozen=True)
class Visibility:
    """The post was deleted or hidden (False), or restored or unhidden (True): its activity counts or not."""

    post_id: str
    visible: bool


# What the activity log takes from each content event (it runs in the indexer's consumer, group search-indexer).
ACTIVITY: EventHandlers[Any] = EventHandlers("search.demand")


@ACTIVITY.on(ev.QuestionAsked)
def _asked(event: ev.QuestionAsked) -> Activity:
    return Activity("question", event.post_id, tuple(event.tags), event.sig_id, None)


@ACTIVITY.on(ev.AnswerPosted)
def _answered(event: ev.AnswerPosted) -> Activity:
    return Activity("answer", event.post_id, tuple(event.tags), event.sig_id, event.author_id)


@ACTIVITY.on(ev.PostVoted)
def _voted(event: ev.PostVoted) -> Activity | None:
    if event.previous_value != 0 or event.post_type == "comment":
        return None  # a changed vote is not new interest
    return Activity("vote", event.post_id, tuple(event.tags), event.sig_id, None)


@ACTIVITY.on(ev.PostDeleted, ev.PostHidden, ev.PostRestored, ev.PostUnhidden)
def _visibility(event: ev.PostRef) -> Visibility:
    return Visibility(event.post_id, isinstance(event, (ev.PostRestored, ev.PostUnhidden)))


def activity_of(event: Any) -> Activity | Visibility | None:
    handler = ACTIVITY.handler_for(event.event_type)
    return handler(event) if handler is not None else None


# --- ranking -----------------------------------------------------------------------------------------------------

def under_served(followers: dict[str, int], answers: dict[str, int], answerers: dict[str, int], *,
                 min_followers: int, limit: int) -> list[dict]:
    """Tags followed by more members than they got answers in the period, the widest gap first
    (followers / (answers + 1)), then the most followed."""
    rows: list[dict[str, Any]] = []
    for tag, count in followers.items():
        got = answers.get(tag, 0)
        if count < min_followers or got >= count:
            continue
        rows.append({"tag": tag, "followers": count, "answers": got, "answerers": answerers.get(tag, 0),
                     "ratio": round(got / count, 3)})
    rows.sort(key=lambda r: (-r["followers"] / (r["answers"] + 1), -r["followers"], r["tag"]))
    return rows[:limit]


def trending(current: dict[str, int], previous: dict[str, int], *, limit: int) -> list[dict]:
    """Tags with more activity this period than the one before, the fastest growing first ((now + 1) / (before + 1),
    so a tag new this period counts as growing from one), then the busiest. growth = (now - before) / before, None
    when there was nothing before."""
    rows: list[dict[str, Any]] = []
    for tag, now in current.items():
        before = previous.get(tag, 0)
        if now < MIN_TRENDING_ACTIVITY or now <= before:
            continue
        rows.append({"tag": tag, "this_period": now, "previous_period": before,
                     "growth": round((now - before) / before, 3) if before else None})
    rows.sort(key=lambda r: (-(r["this_period"] + 1) / (r["previous_period"] + 1), -r["this_period"], r["tag"]))
    return rows[:limit]


# --- event drafts ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DraftOptions:
    """How the report's rows become events: the same for every row of one report."""

    kind: DraftKind
    starts_at: datetime
    industry: str | None = None
    city: str | None = None
    sig_id: str | None = None

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=DRAFT_MINUTES[self.kind])


def default_start(now: datetime) -> datetime:
    """DRAFT_LEAD_DAYS ahead at DRAFT_HOUR UTC: time to invite experts and announce it."""
    day = (now.astimezone(UTC) + timedelta(days=DRAFT_LEAD_DAYS)).date()
    return datetime.combine(day, time(DRAFT_HOUR), tzinfo=UTC)


def _clip(text: str, limit: int = TITLE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def draft(options: DraftOptions, *, topic: str, description: str, tags: list[str] | tuple[str, ...],
          sig_id: str | None = None) -> dict:
    """A body the events service's `POST /api/v1/events` accepts as it is: it creates a draft event (nothing is
    published until the operator publishes it)."""
    label = "Q&A" if options.kind == "qa_session" else "Peer exchange"
    clean_tags = [t for t in dict.fromkeys(t.strip().lower() for t in tags) if 0 < len(t) <= DRAFT_TAG_CHARS]
    body: dict[str, Any] = {
        "kind": options.kind,
        "title": _clip(f"{label}: {topic}"),
        "description": description,
        "topic": _clip(topic),
        "tags": clean_tags[:DRAFT_TAGS],
        "starts_at": options.starts_at,
        "ends_at": options.ends_at,
        "online": options.city is None,
    }
    if options.industry:
        body["industry"] = _clip(options.industry)
    if options.city:
        body["city"] = _clip(options.city)
    sig = options.sig_id or sig_id
    if sig:
        body["sig_id"] = sig
    return body


def _hashtags(tags: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f"#{t}" for t in tags) or "its subject"


def unanswered_draft(options: DraftOptions, row: dict) -> dict:
    days = row["age_days"]
    return draft(options, topic=row["title"], tags=row["tags"], sig_id=row.get("sig_id"), description=(
        f"Asked {days:g} days ago and still unanswered: “{row['title']}” (question {row['question_id']}). "
        f"A session with people who know {_hashtags(row['tags'])} can answer it and the questions around it."))


def zero_hit_draft(options: DraftOptions, row: dict) -> dict:
    times = "once" if row["count"] == 1 else f"{row['count']} times"
    return draft(options, topic=row["query"], tags=row["tags"], sig_id=row.get("sig_id"), description=(
        f"Members searched for “{row['query']}” {times} (last on {row['last_seen']:%Y-%m-%d}) and found nothing: "
        "nobody has asked or written about it yet."))


def under_served_draft(options: DraftOptions, row: dict, *, period_days: int) -> dict:
    return draft(options, topic=row["tag"], tags=[row["tag"]], description=(
        f"{row['followers']} members follow #{row['tag']}, but it got {row['answers']} answers from "
        f"{row['answerers']} people in the last {period_days} days: invite its experts to answer live."))


def trending_draft(options: DraftOptions, row: dict, *, period_days: int) -> dict:
    return draft(options, topic=row["tag"], tags=[row["tag"]], description=(
        f"#{row['tag']} is trending: {row['this_period']} questions, answers and votes in the last {period_days} "
        f"days, against {row['previous_period']} in the {period_days} days before."))

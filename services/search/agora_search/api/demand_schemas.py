"""Response models of the demand report (operators)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class EventDraft(BaseModel):
    """A body for the events service's `POST /api/v1/events` (operators), to post as it is: the event is created as a
    private draft, which the operator edits (speakers, time, capacity) and publishes. Field names and limits are
    the events API's."""

    kind: Literal["qa_session", "peer_exchange"]
    title: str = Field(max_length=200)
    description: str
    topic: str = Field(max_length=200, description="what the session answers questions about")
    tags: list[str] = Field(max_length=20)
    starts_at: datetime = Field(description="the report's starts_at, or 14 days ahead at 12:00 UTC")
    ends_at: datetime = Field(description="starts_at + 1 hour (Q&A session) or 2 hours (peer exchange)")
    online: bool = Field(description="false when the report was asked with a city (an in-person exchange)")
    industry: str | None = Field(None, description="peer exchanges: the industry it gathers (from the report)")
    city: str | None = Field(None, description="in-person: the city (from the report)")
    sig_id: str | None = Field(None, description="the SIG the report was for, or the question's SIG")


class UnansweredQuestion(BaseModel):
    question_id: str
    title: str
    tags: list[str]
    sig_id: str | None
    asked_at: datetime
    age_days: float = Field(description="days since it was asked, one decimal")
    draft: EventDraft


class ZeroHitSearch(BaseModel):
    query: str = Field(description="normalised: case-folded, single spaces")
    tags: list[str] = Field(description="the tag filter it was searched with, if any")
    sig_id: str | None = Field(description="the SIG filter it was searched with, if any")
    count: int = Field(description="searches that found nothing, since first_seen")
    first_seen: datetime
    last_seen: datetime
    draft: EventDraft


class UnderServedTag(BaseModel):
    tag: str
    followers: int = Field(description="members following the tag now")
    answers: int = Field(description="answers to questions with the tag in the period")
    answerers: int = Field(description="distinct members who wrote them")
    ratio: float = Field(description="answers per follower")
    draft: EventDraft


class TrendingTag(BaseModel):
    tag: str
    this_period: int = Field(description="questions, answers and votes with the tag in the period")
    previous_period: int = Field(description="the same in the period before")
    growth: float | None = Field(description="(this - previous) / previous; null when the tag is new this period")
    questions: int = Field(description="this period's questions")
    answers: int = Field(description="this period's answers")
    votes: int = Field(description="this period's new votes")
    draft: EventDraft


class DemandReport(BaseModel):
    generated_at: datetime
    tag: str | None
    sig: str | None
    period_days: int
    period_start: datetime = Field(description="the period is [period_start, generated_at]")
    previous_period_start: datetime = Field(description="the period before is [previous_period_start, period_start)")
    unanswered: list[UnansweredQuestion] = Field(description="visible questions without an answer, oldest first")
    zero_hit_searches: list[ZeroHitSearch] = Field(
        description="searches that found nothing and still find nothing, the most searched first")
    under_served_tags: list[UnderServedTag] = Field(
        description="tags with more followers than answers in the period, the widest gap first "
        "(followers / (answers + 1))")
    trending_tags: list[TrendingTag] = Field(
        description="tags busier this period than the one before (at least 2 questions, answers or votes), "
        "the fastest growing first")

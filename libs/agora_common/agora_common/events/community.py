"""Events of the events service (topic `events`): community events from registration to certificate.

Subject = the community event id (for a series, the series id).
"""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from agora_common.events.envelope import DomainEvent, register

EventKind = Literal["qa_session", "live_stream", "meetup", "peer_exchange", "training", "competition"]


class CommunityEvent(DomainEvent):
    source: ClassVar[str] = "events"


class EventRef(CommunityEvent):
    event_id: str
    kind: EventKind
    sig_id: str | None = None
    tags: list[str] = Field(default_factory=list)


@register
class EventPublished(EventRef):
    title: str
    starts_at: datetime
    ends_at: datetime | None = None
    series_id: str | None = None
    city: str | None = None
    capacity: int | None = None
    organizer_id: str


@register
class EventUpdated(EventRef):
    title: str
    starts_at: datetime
    ends_at: datetime | None = None


@register
class RegistrationOpened(EventRef):
    pass


@register
class RegistrationClosed(EventRef):
    pass


@register
class EventStarted(EventRef):
    pass


@register
class EventEnded(EventRef):
    pass


@register
class EventCancelled(EventRef):
    reason: str | None = None


@register
class RegistrationConfirmed(EventRef):
    registration_id: str
    user_id: str


@register
class Waitlisted(EventRef):
    registration_id: str
    user_id: str
    position: int


@register
class PromotedFromWaitlist(EventRef):
    registration_id: str
    user_id: str


@register
class RegistrationCancelled(EventRef):
    registration_id: str
    user_id: str
    was_confirmed: bool


@register
class AttendeeCheckedIn(EventRef):
    registration_id: str
    user_id: str
    checked_in_at: datetime


@register
class SpeakerConfirmed(EventRef):
    user_id: str
    talk_title: str | None = None


@register
class ExamPassed(EventRef):
    exam_id: str
    attempt_id: str
    user_id: str
    score: float
    pass_mark: float


@register
class ExamFailed(EventRef):
    exam_id: str
    attempt_id: str
    user_id: str
    score: float
    pass_mark: float


@register
class CertificateIssued(EventRef):
    certificate_id: str
    user_id: str


class Placing(BaseModel):
    user_id: str
    place: int = Field(ge=1)
    score: float | None = None


@register
class CompetitionRanked(EventRef):
    ranking: list[Placing]


@register
class SubmissionReceived(EventRef):
    """A participant submitted an entry to a competition."""

    submission_id: str
    user_id: str


@register
class SubmissionScored(EventRef):
    """A judge scored (or re-scored) a submission. author_id, not user_id: the author did nothing here."""

    submission_id: str
    author_id: str
    judge_id: str
    score: float


@register
class CertificateRevoked(EventRef):
    """An operator revoked a certificate (e.g. exam fraud); verification rejects it from now on."""

    certificate_id: str
    user_id: str
    reason: str | None = None

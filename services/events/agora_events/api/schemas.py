"""Request and response bodies of the events API."""

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from agora_common.errors import InvalidInput
from agora_common.events.community import EventKind
from agora_common.types import LATEST, Instant
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    field_validator,
    model_validator,
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=20_000)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=50)]
UserId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgendaItem(Strict):
    starts_at: Instant | None = None
    title: Text
    speaker_user_id: UserId | None = None


def known_zone(v: str | None) -> str | None:
    if v is not None and v not in available_timezones():
        raise ValueError(f"unknown time zone {v!r}")
    return v


class EventFields(Strict):
    description: LongText | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    timezone: str | None = Field(default=None, description="IANA zone for display, e.g. Asia/Shanghai")
    online: bool | None = None
    city: Text | None = None
    venue: Text | None = None
    address: Text | None = None
    agenda: list[AgendaItem] | None = Field(default=None, max_length=100)
    topic: Text | None = Field(default=None, description="qa_session: what the experts answer questions about")
    industry: Text | None = Field(default=None, description="peer_exchange: the industry it gathers")
    stream_url: HttpUrl | None = None
    capacity: int | None = Field(default=None, ge=1, le=1_000_000, description="places; none = unlimited")
    hosts: list[UserId] | None = Field(default=None, max_length=50, description="can manage and check in")
    judges: list[UserId] | None = Field(default=None, max_length=50, description="competition judges")
    submission_deadline: Instant | None = None

    _known_zone = field_validator("timezone")(known_zone)

    @field_validator("tags", "hosts", "judges")
    @classmethod
    def _dedupe(cls, v: list[str] | None) -> list[str] | None:
        return list(dict.fromkeys(v)) if v is not None else None

    def fields(self) -> dict[str, Any]:
        data = self.model_dump(exclude_unset=True, mode="python")
        for name in ("tags", "agenda", "hosts", "judges"):  # an explicit null empties a list
            if name in data and data[name] is None:
                data[name] = []
        if "online" in data and data["online"] is None:
            del data["online"]
        if data.get("stream_url") is not None:
            data["stream_url"] = str(data["stream_url"])
        return data


class EventCreate(EventFields):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"kind": "qa_session", "title": "Ask the storage maintainers", "topic": "Persistent storage on Kubernetes",
         "starts_at": "2030-03-05T12:00:00Z", "ends_at": "2030-03-05T13:00:00Z", "online": True,
         "tags": ["storage"]},
        {"kind": "meetup", "title": "Shanghai cloud native meetup", "starts_at": "2030-04-12T06:00:00Z",
         "city": "Shanghai", "venue": "Community hub", "capacity": 80, "timezone": "Asia/Shanghai"}]})
    kind: EventKind
    title: Text
    starts_at: Instant
    sig_id: UserId | None = Field(default=None, description="the special interest group that runs it")

    def fields(self) -> dict[str, Any]:
        data = super().fields()
        data.setdefault("online", self.kind != "meetup")
        data.setdefault("tags", [])
        return data


class EventUpdate(EventFields):
    title: Text | None = None

    @model_validator(mode="after")
    def _no_nulls_for_required(self):
        for name in ("title", "starts_at"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class Speaker(BaseModel):
    user_id: str
    name: str | None = None
    talk_title: str | None = None
    bio: str | None = None
    confirmed: bool


class SpeakerInvite(Strict):
    user_id: UserId
    name: Text | None = None
    talk_title: Text | None = None
    bio: LongText | None = None


class Counts(BaseModel):
    confirmed: int
    waitlisted: int
    cancelled: int
    checked_in: int


class EventRead(BaseModel):
    id: str
    kind: str
    title: str
    description: str | None = None
    status: str
    allowed_actions: list[str]
    sig_id: str | None = None
    tags: list[str] = []
    starts_at: datetime
    ends_at: datetime | None = None
    timezone: str | None = None
    online: bool | None = None
    city: str | None = None
    venue: str | None = None
    address: str | None = None
    agenda: list[AgendaItem] = []
    topic: str | None = None
    industry: str | None = None
    stream_url: str | None = None
    capacity: int | None = None
    spots_left: int | None = None
    counts: Counts
    organizer_id: str
    hosts: list[str] = []
    judges: list[str] = []
    speakers: list[Speaker] = []
    submission_deadline: datetime | None = None
    series_id: str | None = None
    occurrence: int | None = None
    version: int
    created_at: datetime
    updated_at: datetime


class CancelRequest(Strict):
    reason: LongText | None = None


class RegistrationRead(BaseModel):
    id: str
    event_id: str
    user_id: str
    status: Literal["confirmed", "waitlisted", "cancelled"]
    position: int | None = Field(default=None, description="place in the waitlist, 1 = next to be promoted")
    checkin_code: str | None = Field(default=None, description="show it as a QR code at the door")
    checked_in_at: datetime | None = None
    created_at: datetime
    cancelled_at: datetime | None = None


class MyRegistrationRead(RegistrationRead):
    event_title: str | None = None
    event_kind: str | None = None
    event_starts_at: datetime | None = None
    event_status: str | None = None


class CheckinRequest(Strict):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=64)] | None = Field(
        default=None, description="scanned from the attendee's QR code")
    registration_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="manual check-in at the desk (phone flat, code lost)")

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.code is None) == (self.registration_id is None):
            raise ValueError("give either code or registration_id")
        return self


class QuestionIn(Strict):
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    kind: Literal["single", "multiple"] = "single"
    options: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]] = Field(
        min_length=2, max_length=10)
    correct: list[Annotated[int, Field(ge=0)]] = Field(min_length=1, description="indexes into options")
    points: int = Field(default=1, ge=1, le=100)


class ExamCreate(Strict):
    questions: list[QuestionIn] = Field(min_length=1, max_length=500, description="the question bank")
    pass_mark: float = Field(ge=0, le=100, description="percent of points needed to pass")
    time_limit_seconds: int = Field(ge=1, le=24 * 3600)
    questions_per_attempt: int | None = Field(default=None, ge=1, description="draw this many from the bank")
    max_attempts: int = Field(default=3, ge=1, le=50)

    @model_validator(mode="after")
    def _consistent(self):
        ids = [q.id for q in self.questions if q.id]
        if len(ids) != len(set(ids)):
            raise ValueError("question ids must be unique")
        if self.questions_per_attempt and self.questions_per_attempt > len(self.questions):
            raise ValueError("questions_per_attempt is larger than the question bank")
        return self

    def document(self) -> dict:
        data = self.model_dump()
        for i, q in enumerate(data["questions"]):
            q["id"] = q["id"] or f"q{i + 1}"
            q["correct"] = sorted(set(q["correct"]))
        ids = [q["id"] for q in data["questions"]]
        if len(ids) != len(set(ids)):
            raise InvalidInput("question ids must be unique (generated ids are q1, q2, ...)")
        return data


class ExamRead(ExamCreate):
    model_config = ConfigDict(extra="ignore")
    event_id: str


class QuestionPublic(BaseModel):
    id: str
    text: str
    kind: str
    options: list[str]
    points: int


class AttemptRead(BaseModel):
    id: str
    event_id: str
    status: str
    started_at: datetime
    deadline: datetime = Field(description="the server's deadline; later submissions are refused")
    pass_mark: float
    questions: list[QuestionPublic]


class AttemptSubmit(Strict):
    answers: dict[Annotated[str, StringConstraints(max_length=64)], list[Annotated[int, Field(ge=0)]]] = Field(
        max_length=500, description="question id -> chosen option indexes")


class AttemptResult(BaseModel):
    attempt_id: str
    status: Literal["passed", "failed"]
    passed: bool
    score: float
    pass_mark: float
    correct: dict[str, bool]
    certificate_id: str | None = None


class VerifyResult(BaseModel):
    valid: bool
    certificate_id: str
    event_id: str
    user_id: str
    achievement: str
    issued_at: datetime


class RevokeResult(BaseModel):
    certificate_id: str
    revoked: bool
    reason: str | None = None


class IssuerRead(BaseModel):
    id: str = Field(description="did:key of the signing key")
    name: str
    verification_method: str
    cryptosuite: str


class SubmissionCreate(Strict):
    title: Text
    url: HttpUrl | None = None
    description: LongText | None = None


class JudgeScore(BaseModel):
    judge_id: str
    score: float
    comment: str | None = None


class SubmissionRead(BaseModel):
    id: str
    event_id: str
    user_id: str
    title: str
    url: str | None = None
    description: str | None = None
    created_at: datetime
    scores: list[JudgeScore] = []


class ScoreCreate(Strict):
    submission_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    score: float = Field(ge=0, le=100)
    comment: LongText | None = None


class ScoreRead(BaseModel):
    submission_id: str
    judge_id: str
    score: float
    comment: str | None = None
    scored_at: datetime


class PlacingRead(BaseModel):
    submission_id: str
    user_id: str
    place: int
    score: float


class RankingRead(BaseModel):
    event_id: str
    ranking: list[PlacingRead]
    unscored: list[str] = Field(description="submissions no judge scored: not ranked")
    ranked_at: datetime


class EventStats(BaseModel):
    event_id: str
    title: str
    status: str
    starts_at: datetime
    capacity: int | None
    confirmed: int
    waitlisted: int
    cancelled: int
    checked_in: int
    fill_rate: float | None
    attendance_rate: float | None = Field(description="checked in / confirmed")
    no_show_rate: float | None = Field(description="(confirmed - checked in) / confirmed; only once ended")


class SeriesCreate(Strict):
    title: Text
    description: LongText | None = None
    kind: EventKind = "live_stream"
    sig_id: UserId | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    first_starts_at: Instant
    duration_minutes: int = Field(ge=5, le=24 * 60)
    interval_weeks: int = Field(default=1, ge=1, le=4)
    occurrences: int = Field(ge=1, le=52)
    capacity: int | None = Field(default=None, ge=1, le=1_000_000)
    timezone: str | None = None
    online: bool = True
    stream_url: HttpUrl | None = None
    topic: Text | None = None
    industry: Text | None = None
    city: Text | None = None
    venue: Text | None = None
    address: Text | None = None
    hosts: list[UserId] = Field(default_factory=list, max_length=50)

    _known_zone = field_validator("timezone")(known_zone)

    @model_validator(mode="after")
    def _last_occurrence_in_range(self):
        # every occurrence is an event, and an event's dates stay in the platform's range (agora_common.types)
        last = self.first_starts_at + timedelta(weeks=self.interval_weeks * (self.occurrences - 1))
        if last > LATEST:
            raise ValueError(f"the last occurrence ({last.date()}) would start after {LATEST.date()}")
        return self

    def spec(self) -> dict:
        data = self.model_dump(mode="python")
        if data.get("stream_url") is not None:
            data["stream_url"] = str(data["stream_url"])
        return data


class SeriesRead(BaseModel):
    id: str
    title: str
    description: str | None = None
    kind: str
    sig_id: str | None = None
    tags: list[str] = []
    first_starts_at: datetime
    duration_minutes: int
    interval_weeks: int
    organizer_id: str
    event_ids: list[str]


class SeriesStats(BaseModel):
    series_id: str
    title: str
    occurrences: int
    ended_occurrences: int
    confirmed: int
    waitlisted: int
    cancelled: int
    checked_in: int
    attendance_rate: float | None = Field(description="over ended occurrences")
    no_show_rate: float | None = Field(description="over ended occurrences")
    events: list[EventStats]

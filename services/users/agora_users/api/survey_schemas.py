"""Request and response bodies of surveys: questions by kind, answers, receipts and the live results."""

from datetime import datetime
from typing import Annotated, Literal, Self

from agora_common.types import Instant
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, StringConstraints, model_validator

from agora_users.api.group_schemas import Description, OneLine
from agora_users.api.schemas import Strict
from agora_users.domain import surveys as domain

QuestionText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500,
                                                pattern=r"^[^\x00-\x1f\x7f]+$")]
OptionLabel = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                               pattern=r"^[^\x00-\x1f\x7f]+$")]
ScaleLabel = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60,
                                              pattern=r"^[^\x00-\x1f\x7f]+$")]
Options = Annotated[list[OptionLabel], Field(min_length=2, max_length=30, description="the options, in order "
                                             "(ids o1, o2, ... are given in this order)")]
ScaleBound = Annotated[int, Field(ge=domain.SCALE_BOUNDS[0], le=domain.SCALE_BOUNDS[1])]


def _distinct(options: list[str]) -> None:
    if len({o.casefold() for o in options}) != len(options):
        raise ValueError("options must differ (any case)")


class SingleChoiceQuestion(Strict):
    kind: Literal["single_choice"]
    text: QuestionText
    required: bool = True
    options: Options

    @model_validator(mode="after")
    def _check(self) -> Self:
        _distinct(self.options)
        return self


class MultipleChoiceQuestion(Strict):
    kind: Literal["multiple_choice"]
    text: QuestionText
    required: bool = True
    options: Options
    max_choices: int | None = Field(default=None, ge=1, description="at most this many options (default: any)")

    @model_validator(mode="after")
    def _check(self) -> Self:
        _distinct(self.options)
        if self.max_choices is not None and self.max_choices > len(self.options):
            raise ValueError("max_choices is more than the options")
        return self


class ScaleQuestion(Strict):
    kind: Literal["scale"]
    text: QuestionText
    required: bool = True
    min: ScaleBound = 1
    max: ScaleBound = 5
    min_label: ScaleLabel | None = Field(default=None, description="e.g. 'not at all'")
    max_label: ScaleLabel | None = Field(default=None, description="e.g. 'very much'")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.min >= self.max:
            raise ValueError("min must be below max")
        return self


class FreeTextQuestion(Strict):
    kind: Literal["free_text"]
    text: QuestionText
    required: bool = False
    max_length: int = Field(default=domain.DEFAULT_TEXT_LENGTH, ge=1, le=domain.MAX_TEXT_LENGTH)


QuestionCreate = Annotated[SingleChoiceQuestion | MultipleChoiceQuestion | ScaleQuestion | FreeTextQuestion,
                           Field(discriminator="kind")]


class SurveyCreate(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "title": "What should the next peer exchange cover?", "anonymous": True,
        "closes_at": "2030-03-20T18:00:00+08:00",
        "questions": [
            {"kind": "single_choice", "text": "Which format suits you?", "options": ["Online", "In person"]},
            {"kind": "multiple_choice", "text": "Topics", "options": ["Audit", "Storage", "Hiring"],
             "max_choices": 2},
            {"kind": "scale", "text": "How useful was the last one?", "min": 1, "max": 5,
             "min_label": "not at all", "max_label": "very"},
            {"kind": "free_text", "text": "Anything else?", "required": False}]}]})
    title: OneLine
    description: Description | None = None
    anonymous: bool = Field(default=False, description="no stored, exported or published record ties a member to "
                                                       "their answers (one response per member is still enforced)")
    closes_at: Instant | None = Field(default=None, description="answers are refused from then on (or when an "
                                                                "operator closes the survey)")
    questions: list[QuestionCreate] = Field(min_length=1, max_length=50)


class SurveySend(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"group_id": "0190c3e2-...", "message": "Two minutes, and it shapes the next meetup."}]})
    group_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    message: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)] | None = Field(
        default=None, description="the invitation's text in the inbox (and mail); default: the description")


class OptionRead(BaseModel):
    id: str
    label: str


class QuestionRead(BaseModel):
    id: str = Field(description="q1, q2, ... in order: the key of its answer")
    kind: domain.QuestionKind
    text: str
    required: bool
    options: list[OptionRead] | None = Field(default=None, description="choice questions: answer with option ids")
    max_choices: int | None = None
    min: int | None = Field(default=None, description="scale questions")
    max: int | None = None
    min_label: str | None = None
    max_label: str | None = None
    max_length: int | None = Field(default=None, description="free-text questions")


class SurveyRead(BaseModel):
    id: str
    title: str
    description: str | None = None
    anonymous: bool
    status: domain.SurveyStatus = Field(
        description="draft: not sent; sending: delivery interrupted (send again to resume); open: taking answers; "
                    "closed: closed by an operator or past closes_at")
    closes_at: datetime | None = None
    closed_at: datetime | None = None
    questions: list[QuestionRead]
    group_id: str | None = None
    group_name: str | None = None
    announcement_id: str | None = Field(default=None, description="the announcement that delivered it")
    sent_at: datetime | None = None
    recipients: int = Field(description="members it reached (an inbox item each)")
    muted: int = Field(description="group members skipped because they muted the group")
    created_by: str
    created_at: datetime
    answered: bool = Field(description="whether the caller has answered it")


class SurveyAnswer(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"answers": {"q1": "o2", "q2": ["o1", "o3"], "q3": 4, "q4": "More hands-on sessions, please."}}]})
    answers: dict[Annotated[str, StringConstraints(min_length=1, max_length=16)],
                  StrictInt | StrictStr | list[StrictStr] | None] = Field(
        max_length=60, description="question id -> an option id (single choice), a list of option ids (multiple "
                                   "choice), a whole number (scale) or a text (free text); leave out (or null) an "
                                   "optional question not answered")


class SurveyResponseRead(BaseModel):
    survey_id: str
    anonymous: bool
    response_id: str | None = Field(default=None, description="null for an anonymous survey: nothing links a member "
                                                              "to their answers, not even for them")
    answers: dict[str, int | str | list[str]] | None = Field(default=None, description="as recorded (not anonymous)")
    answered_at: datetime | None = Field(default=None, description="not anonymous only")


class OptionCount(BaseModel):
    option_id: str
    label: str
    count: int
    share: float | None = Field(description="count / the responses that answered the question (multiple choice: "
                                            "shares add up to more than 1)")


class ScaleValueCount(BaseModel):
    value: int
    count: int


class ScaleSummary(BaseModel):
    min: int
    max: int
    min_label: str | None = None
    max_label: str | None = None
    mean: float | None = Field(description="null before any answer")
    distribution: list[ScaleValueCount]


class FreeTextSummary(BaseModel):
    answers: int = Field(description="the texts themselves: GET /surveys/{id}/free-text.csv")


class QuestionResult(BaseModel):
    question_id: str
    kind: domain.QuestionKind
    text: str
    required: bool
    answered: int = Field(description="responses that answered this question")
    options: list[OptionCount] | None = None
    scale: ScaleSummary | None = None
    free_text: FreeTextSummary | None = None


class SurveyResults(BaseModel):
    survey_id: str
    title: str
    status: domain.SurveyStatus
    anonymous: bool
    group_id: str | None = None
    group_name: str | None = None
    recipients: int
    responses: int
    response_rate: float | None = Field(description="responses / recipients (null before the survey reached anyone)")
    questions: list[QuestionResult]
    computed_at: datetime


def survey_read(doc: dict, *, status: domain.SurveyStatus, answered: bool) -> SurveyRead:
    return SurveyRead(
        id=doc["_id"], title=doc["title"], description=doc.get("description"), anonymous=doc["anonymous"],
        status=status, closes_at=doc.get("closes_at"), closed_at=doc.get("closed_at"),
        questions=[QuestionRead(**q) for q in doc["questions"]], group_id=doc.get("group_id"),
        group_name=doc.get("group_name"), announcement_id=doc.get("announcement_id"), sent_at=doc.get("sent_at"),
        recipients=doc.get("recipients", 0), muted=doc.get("muted", 0), created_by=doc["created_by"],
        created_at=doc["created_at"], answered=answered)

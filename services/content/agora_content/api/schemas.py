"""Request and response bodies."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=200)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=50_000)]
ShortBody = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]
# lower-cased and spaces turned into "-" on the way in; see domain.rules.normalize_tags
Tag = Annotated[str, StringConstraints(min_length=1, max_length=35, pattern=r"^ *[A-Za-z0-9][A-Za-z0-9.+#_ -]{0,34}$")]
Id = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuestionCreate(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"title": "How do I configure persistent storage for KubeSphere?",
         "body": "I installed KubeSphere on three nodes. Which storage class should I use for `ks-installer`?",
         "tags": ["kubesphere", "storage"]}]})
    title: Title
    body: Body
    tags: list[Tag] = Field(min_length=1, max_length=5)
    sig_id: Id | None = None
    event_id: Id | None = Field(default=None, description="an online Q&A session (published or live) it is asked in")


class QuestionUpdate(Strict):
    title: Title | None = None
    body: Body | None = None
    tags: list[Tag] | None = Field(default=None, min_length=1, max_length=5)


class AnswerCreate(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"body": "Install OpenEBS local PV first, then set it as the default storage class."}]})
    body: Body


class AnswerUpdate(Strict):
    body: Body


class CommentCreate(Strict):
    body: ShortBody


class ArticleCreate(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"title": "Five lessons from running Ceph in production", "body": "## 1. Plan placement groups ...",
         "tags": ["storage", "ceph"]}]})
    title: Title
    body: Body
    tags: list[Tag] = Field(default_factory=list, max_length=5)
    sig_id: Id | None = None


class ArticleUpdate(Strict):
    title: Title | None = None
    body: Body | None = None
    tags: list[Tag] | None = Field(default=None, max_length=5)


class AcceptRequest(Strict):
    answer_id: Id


class VoteRequest(Strict):
    value: Literal[1, -1]


class FlagCreate(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]


class HideRequest(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


ResourceKind = Literal["slides", "recording", "link", "article", "code", "document", "other"]


class ResourceCreate(Strict):
    url: AnyHttpUrl
    title: Title
    kind: ResourceKind = "link"
    description: Annotated[str, StringConstraints(max_length=2_000)] | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=5)
    event_id: Id | None = None


class PostBase(BaseModel):
    id: str
    type: str
    version: int = Field(description="increases with every change; send it back as If-Match to edit safely")
    author_id: str | None = Field(description="null once the author's account is deleted")
    author_deleted: bool = False
    body: str
    body_html: str = Field(description="the markdown body rendered to safe HTML (raw HTML is not passed through)")
    tags: list[str]
    sig_id: str | None = None
    score: int
    upvotes: int
    downvotes: int
    comment_count: int
    revision: int
    deleted: bool
    hidden: bool
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime

    @classmethod
    def from_doc(cls, doc: dict):
        return cls.model_validate({**doc, "id": doc["_id"]})


class InvitedRead(BaseModel):
    """A member an operator invited to answer the question."""

    user_id: str | None = Field(description="null once the member's account is deleted")
    display_name: str | None = Field(default=None,
                                     description="from the users service's events; null if content does not know it")
    invited_at: datetime
    answered: bool = Field(description="the member has answered since the invitation")
    answer_id: str | None = Field(default=None, description="their answer, once answered")


class QuestionRead(PostBase):
    title: str
    answer_count: int
    accepted_answer_id: str | None
    event_id: str | None = Field(default=None, description="the online Q&A session it was asked in")
    invited: list[InvitedRead] = Field(default_factory=list, description="members invited to answer, oldest first")

    @classmethod
    def with_names(cls, doc: dict, names: dict[str, str | None]) -> "QuestionRead":
        """The read model, naming the invited members (`names`: user id -> display name)."""
        invited = [{**i, "display_name": names.get(i["user_id"]) if i["user_id"] else None}
                   for i in doc.get("invited") or []]
        return cls.model_validate({**doc, "id": doc["_id"], "invited": invited})


class InvitationCreate(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"user_id": "0190a1b2-...", "note": "You answered the last three storage questions best: could you help?"}]})
    user_id: Id
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1_000)] | None = None


class InvitationRead(BaseModel):
    id: str
    question_id: str
    user_id: str
    display_name: str | None = Field(description="from the users service's events; null if content does not know it")
    invited_by: str
    note: str | None = None
    invited_at: datetime
    answered: bool
    answer_id: str | None = None


class AnswerRead(PostBase):
    question_id: str
    accepted: bool


class CommentRead(PostBase):
    parent_id: str
    parent_type: str
    question_id: str | None


class ArticleRead(PostBase):
    title: str
    status: Literal["draft", "published", "unpublished"]
    published_at: datetime | None


class PostRead(PostBase):
    """Any kind of post (deletion, restore, moderation answers)."""

    title: str | None = None
    question_id: str | None = None
    parent_id: str | None = None
    status: str = "published"


class VoteRead(BaseModel):
    post_id: str
    value: Literal[-1, 0, 1] = Field(description="your vote now (0 = none)")
    score: int
    version: int


class RevisionRead(BaseModel):
    revision: int
    title: str | None
    body: str
    tags: list[str]
    editor_id: str | None
    edited_at: datetime


class FlagRead(BaseModel):
    post_id: str
    flagger_id: str
    reason: str
    status: str
    created_at: datetime


class QueueItem(BaseModel):
    post: PostRead
    flags: list[FlagRead]


class ResourceRead(BaseModel):
    id: str
    url: str
    title: str
    kind: str
    description: str | None
    tags: list[str]
    event_id: str | None
    author_id: str | None
    created_at: datetime

    @classmethod
    def from_doc(cls, doc: dict):
        return cls.model_validate({**doc, "id": doc["_id"]})


class ScopedTitle(BaseModel):
    title: str
    scope: str = Field(description='"tag:<tag>"')


class ExpertRead(BaseModel):
    """One member's answers in a tag or SIG (what counts: services/content/README.md, *Expert discovery*)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"user_id": "0190a1b2-...", "display_name": "Li Wei", "titles": ["Ambassador"],
         "expert_titles": [{"title": "Expert", "scope": "tag:storage"}], "answers": 42,
         "accepted_answers": 17, "answer_score": 96, "first_answers": 11, "median_first_answer_seconds": 1260.0,
         "last_active_at": "2026-11-20T08:15:00Z"}]})
    user_id: str
    display_name: str | None = Field(description="from the users service's events; null until content learns it")
    titles: list[str] = Field(description="honor titles the member holds for the whole community")
    expert_titles: list[ScopedTitle] = Field(
        default_factory=list, description="titles the member holds as the community's expert for this tag (or, in "
                                          "a SIG's list, for one of the SIG's tags), e.g. Expert for tag:kubernetes")
    answers: int = Field(description="answers that count (visible, on a visible question)")
    accepted_answers: int = Field(description="of those, accepted by the asker (self-accepted answers excluded)")
    answer_score: int = Field(description="net vote score of those answers")
    first_answers: int = Field(description="questions where the member gave the first answer (asker's own excluded)")
    median_first_answer_seconds: float | None = Field(
        description="median time from question to the member's answer, over the questions where theirs was the "
                    "first answer; null if none")
    last_active_at: datetime | None = Field(description="when the member last answered in this tag or SIG")

    @classmethod
    def from_doc(cls, doc: dict) -> "ExpertRead":
        return cls.model_validate(doc)

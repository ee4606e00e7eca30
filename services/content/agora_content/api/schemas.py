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


class QuestionRead(PostBase):
    title: str
    answer_count: int
    accepted_answer_id: str | None
    event_id: str | None = Field(default=None, description="the online Q&A session it was asked in")


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

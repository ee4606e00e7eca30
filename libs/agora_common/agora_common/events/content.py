"""Events of the content service (topic `content`). Subject = the post id (for an answer, the answer id).

Every event carries the post's author and tags (and SIG when set) so that points and search never call back.
"""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from agora_common.events.envelope import DomainEvent, register, upcaster

PostType = Literal["question", "answer", "article", "comment"]


class ContentEvent(DomainEvent):
    source: ClassVar[str] = "content"


class PostRef(ContentEvent):
    """What every post event says about the post it concerns."""

    post_id: str
    post_type: PostType
    author_id: str | None  # None once the author's account is deleted (anonymised)
    tags: list[str] = Field(default_factory=list)
    sig_id: str | None = None
    question_id: str | None = None  # for answers and comments on a question: the question


@register
class QuestionAsked(PostRef):
    schema_version: ClassVar[int] = 2
    post_type: PostType = "question"
    title: str
    body: str
    created_at: datetime
    event_id: str | None = None  # v2: the online Q&A event the question was asked in, if any


@upcaster(QuestionAsked, from_version=1)
def _question_asked_v1(data: dict) -> dict:
    """Version 1 had no event_id: those questions belong to no event."""
    return {**data, "event_id": None}


@register
class QuestionEdited(PostRef):
    post_type: PostType = "question"
    title: str
    body: str
    editor_id: str
    revision: int


@register
class AnswerPosted(PostRef):
    schema_version: ClassVar[int] = 2
    post_type: PostType = "answer"
    body: str
    question_author_id: str | None
    created_at: datetime
    event_id: str | None = None  # v2: the online Q&A event the question belongs to, if any
    during_event: bool = False  # v2: posted while that event was live (what points can reward)


@upcaster(AnswerPosted, from_version=1)
def _answer_posted_v1(data: dict) -> dict:
    """Version 1 said nothing of Q&A events: such answers were not posted during one."""
    return {**data, "event_id": None, "during_event": False}


@register
class AnswerEdited(PostRef):
    post_type: PostType = "answer"
    body: str
    editor_id: str
    revision: int


@register
class AnswerAccepted(PostRef):
    """post_id is the accepted answer; author_id its author; asker_id the question's author."""

    post_type: PostType = "answer"
    asker_id: str | None
    previous_answer_id: str | None = None  # the answer that lost its acceptance, if the asker changed it


@register
class AcceptanceRevoked(PostRef):
    """The asker withdrew acceptance of post_id (also emitted for the old answer when acceptance moves)."""

    post_type: PostType = "answer"
    asker_id: str | None


@register
class CommentPosted(PostRef):
    post_type: PostType = "comment"
    body: str
    parent_id: str  # the question, answer or article commented on
    created_at: datetime


@register
class ArticlePublished(PostRef):
    post_type: PostType = "article"
    title: str
    body: str
    published_at: datetime


@register
class ArticleEdited(PostRef):
    post_type: PostType = "article"
    title: str
    body: str
    editor_id: str
    revision: int


@register
class ArticleUnpublished(PostRef):
    post_type: PostType = "article"


@register
class PostVoted(PostRef):
    """A vote cast or changed. value is the voter's vote now; previous_value what it was (0 = none)."""

    voter_id: str
    value: Literal[-1, 1]
    previous_value: Literal[-1, 0, 1] = 0
    score: int  # the post's net score after this vote


@register
class VoteRetracted(PostRef):
    voter_id: str
    previous_value: Literal[-1, 1]
    score: int


@register
class PostDeleted(PostRef):
    deleted_by: str


@register
class PostRestored(PostRef):
    restored_by: str


@register
class PostFlagged(PostRef):
    flagger_id: str
    reason: str


@register
class PostHidden(PostRef):
    moderator_id: str
    reason: str | None = None


@register
class PostUnhidden(PostRef):
    moderator_id: str


@register
class ResourceAdded(ContentEvent):
    resource_id: str
    url: str
    title: str
    kind: str  # slides, recording, link, ...
    author_id: str | None
    tags: list[str] = Field(default_factory=list)
    event_id: str | None = None  # the community event it belongs to, if any


@register
class ResourceRemoved(ContentEvent):
    """A resource was withdrawn by its author or a moderator (search and event pages drop it)."""

    resource_id: str
    removed_by: str
    event_id: str | None = None


@register
class FlagsDismissed(PostRef):
    """A moderator closed the post's open flags without hiding it (the flags were unfounded)."""

    moderator_id: str
    dismissed: int  # how many open flags were closed


@register
class AnswerInvited(PostRef):
    """An operator invited a member to answer a question (subject and post_id = the question; author_id = its
    asker). Carries what the invitee's inbox shows, so the users service never calls back."""

    post_type: PostType = "question"
    invitation_id: str
    invitee_id: str
    invited_by: str
    title: str  # the question's title
    note: str | None = None  # the operator's words to the invitee
    invited_at: datetime

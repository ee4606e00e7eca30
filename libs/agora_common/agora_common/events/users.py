"""Events of the users service (topic `users`). Subject = the user id, or the SIG id for SIG events, the
announcement id for announcements, the survey id for `SurveySent` and the response id for `SurveyAnswered`."""

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from agora_common.events.envelope import DomainEvent, register, upcaster


class UsersEvent(DomainEvent):
    source: ClassVar[str] = "users"


@register
class UserRegistered(UsersEvent):
    user_id: str
    display_name: str
    roles: list[str] = Field(default_factory=lambda: ["member"])
    registered_at: datetime


@register
class ProfileUpdated(UsersEvent):
    user_id: str
    display_name: str
    company: str | None = None
    industry: str | None = None
    city: str | None = None
    skills: list[str] = Field(default_factory=list)


@register
class RoleChanged(UsersEvent):
    user_id: str
    roles: list[str]
    changed_by: str


@register
class UserSuspended(UsersEvent):
    user_id: str
    moderator_id: str
    reason: str
    until: datetime | None = None


@register
class UserReinstated(UsersEvent):
    user_id: str
    moderator_id: str


@register
class UserDeleted(UsersEvent):
    """The account is gone; content stays, anonymised."""

    user_id: str


@register
class SigCreated(UsersEvent):
    sig_id: str
    name: str
    slug: str
    tags: list[str] = Field(default_factory=list)
    created_by: str


@register
class SigJoined(UsersEvent):
    sig_id: str
    user_id: str


@register
class SigLeft(UsersEvent):
    sig_id: str
    user_id: str


@register
class SigLeadAssigned(UsersEvent):
    sig_id: str
    user_id: str
    assigned_by: str


@register
class HonorTitleGranted(UsersEvent):
    """A title, for the whole community or (v2) scoped: `scope` "tag:kubernetes" marks the member as one of the
    community's experts for that tag. A member may hold one title under several scopes."""

    schema_version: ClassVar[int] = 2
    user_id: str
    title: str
    granted_by: str  # an operator's id, or "points" when earned automatically
    reason: str | None = None
    scope: str | None = None  # v2: "tag:<tag>" for a title held for one tag; None for the whole community


@register
class HonorTitleRevoked(UsersEvent):
    schema_version: ClassVar[int] = 2
    user_id: str
    title: str
    revoked_by: str
    reason: str | None = None
    scope: str | None = None  # v2: the scope of the revoked title (None: the unscoped one)


@upcaster(HonorTitleGranted, from_version=1)
def _title_granted_v1(data: dict) -> dict:
    """Version 1 had no scope: every title was for the whole community."""
    return {**data, "scope": None}


@upcaster(HonorTitleRevoked, from_version=1)
def _title_revoked_v1(data: dict) -> dict:
    return {**data, "scope": None}


@register
class UserFollowed(UsersEvent):
    follower_id: str
    followee_id: str


@register
class UserUnfollowed(UsersEvent):
    follower_id: str
    followee_id: str


@register
class TagFollowed(UsersEvent):
    user_id: str
    tag: str


@register
class TagUnfollowed(UsersEvent):
    user_id: str
    tag: str


@register
class SigLeadRemoved(UsersEvent):
    sig_id: str
    user_id: str
    removed_by: str


@register
class AnnouncementDelivered(UsersEvent):
    """One batch of an announcement's delivery: these members have it in their inbox now. Carries what a mail or
    chat adapter needs to deliver it to them (never their emails: the users service looks those up itself).
    Subject = the announcement id; the batches of one announcement come before its `AnnouncementSent`."""

    announcement_id: str
    group_id: str
    group_name: str
    title: str
    body: str
    link: str | None = None
    sent_by: str
    batch: int = Field(ge=1, description="1, 2, ... in delivery order")
    user_ids: list[str]


@register
class AnnouncementSent(UsersEvent):
    """An operator's announcement to a group has been delivered to every recipient's inbox (subject = the
    announcement id). Members who muted the group (unless it is required) got no inbox item: `muted` counts them."""

    announcement_id: str
    group_id: str
    group_name: str
    title: str
    link: str | None = None
    sent_by: str
    recipients: int
    muted: int = 0
    batches: int


@register
class SurveySent(UsersEvent):
    """An operator's survey has been delivered to a group (subject = the survey id): each recipient has an inbox
    item linking to it (delivered through an announcement, `announcement_id`, so its `AnnouncementDelivered` batches
    name the recipients and the mail adapter mails them). Members who muted the group got nothing (`muted`)."""

    survey_id: str
    title: str
    anonymous: bool
    questions: int = Field(ge=1, description="how many questions it asks")
    group_id: str
    group_name: str
    announcement_id: str
    sent_by: str
    recipients: int
    muted: int = 0
    closes_at: datetime | None = None


@register
class SurveyAnswered(UsersEvent):
    """A member answered a survey (subject = the response's own id, version 1; never the member's id). For an
    anonymous survey `user_id` is null and the envelope has no actor: nothing published or stored links a member to
    their answers. The answers themselves are not published (results are read from the users service)."""

    survey_id: str
    group_id: str
    anonymous: bool
    user_id: str | None = Field(default=None, description="the member; null for an anonymous survey")

"""Events of the users service (topic `users`). Subject = the user id, or the SIG id for SIG events."""

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from agora_common.events.envelope import DomainEvent, register


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
    user_id: str
    title: str
    granted_by: str  # an operator's id, or "points" when earned automatically
    reason: str | None = None


@register
class HonorTitleRevoked(UsersEvent):
    user_id: str
    title: str
    revoked_by: str
    reason: str | None = None


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

"""Request and response bodies. The public profile has no email; only /me (and auth responses) show it."""

from datetime import datetime
from typing import Annotated, Literal

from agora_common.ids import utcnow
from agora_common.types import Instant
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from agora_users.domain.users import is_suspended

# no control characters: names are shown everywhere (and logged)
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80,
                                               pattern=r"^[^\x00-\x1f\x7f]+$")]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
RoleName = Literal["member", "moderator", "operator"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


HumanCheckToken = Annotated[str | None, Field(
    default=None, min_length=1, max_length=4096,
    description="the token the human check (CAPTCHA) widget produced: needed on registration and, after failed "
                "sign-ins, on login when the service verifies it (a 403 `human_check_required` says so and gives "
                "the widget's `site_key` in `details`)")]


class RegisterRequest(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"email": "ada@example.org", "password": "correct horse battery", "display_name": "Ada Lovelace"}]})
    email: EmailStr = Field(max_length=254)
    password: str = Field(max_length=1024, description="at least the configured minimum length (default 10)")
    display_name: DisplayName
    human_check_token: HumanCheckToken = None


class RegistrationAccepted(BaseModel):
    """The same answer whether or not the email already had an account (no account enumeration)."""

    status: Literal["accepted"] = "accepted"
    email: str = Field(description="the email as given")
    message: str = Field(description="what to do next, for people")
    login: str = Field(default="/api/v1/users/auth/login", description="where to sign in next")


class LoginRequest(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"email": "ada@example.org", "password": "correct horse battery"}]})
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    human_check_token: HumanCheckToken = None


class RefreshRequest(Strict):
    refresh_token: str = Field(min_length=1, max_length=4096)


class TitleRead(BaseModel):
    title: str
    scope: str | None = Field(default=None, description='"tag:<tag>": held as the community\'s expert for that '
                                                        'tag; null: for the whole community')
    granted_at: datetime
    source: Literal["operator", "points"]


class TitleDetail(TitleRead):
    granted_by: str
    reason: str | None = None


class SigRef(BaseModel):
    id: str
    name: str
    slug: str
    lead: bool


class SuspensionRead(BaseModel):
    reason: str
    until: datetime | None = None
    by: str
    at: datetime


class PublicProfile(BaseModel):
    id: str
    display_name: str
    bio: str | None = None
    company: str | None = None
    industry: str | None = None
    city: str | None = None
    skills: list[str] = []
    roles: list[str]
    titles: list[TitleRead] = []
    sigs: list[SigRef] = []
    followers: int = 0
    following: int = 0
    suspended: bool = False
    joined_at: datetime


class UserRead(PublicProfile):
    """What a user sees about themselves."""

    email: str
    status: Literal["active", "suspended"]
    suspension: SuspensionRead | None = None
    titles: list[TitleDetail] = []  # type: ignore[assignment]  # a member sees who granted their own titles, and why


class AuthResponse(BaseModel):
    user: UserRead
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime = Field(description="when the access token expires")


class VerifyResponse(BaseModel):
    user_id: str
    roles: list[str]


class ProfileUpdate(Strict):
    display_name: DisplayName | None = None
    bio: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None
    company: ShortText | None = None
    industry: ShortText | None = None
    city: ShortText | None = None
    skills: list[Tag] | None = Field(default=None, max_length=50)


class RolesUpdate(Strict):
    roles: list[RoleName] = Field(min_length=1, max_length=3)


class SigCreate(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "Cloud Native Storage", "description": "Ceph, Rook and CSI drivers", "tags": ["storage", "csi"]}]})
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=80)]
    slug: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class SigRead(BaseModel):
    id: str
    name: str
    slug: str
    description: str | None = None
    tags: list[str]
    leads: list[str]
    member_count: int
    created_at: datetime


class SigMember(BaseModel):
    user_id: str
    display_name: str | None
    joined_at: datetime


class Membership(BaseModel):
    sig_id: str
    user_id: str
    joined: bool = Field(description="false when the user was already a member")


TitleScope = Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=40)]


class TitleGrant(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"title": "Ambassador", "reason": "ran three meetups"},
        {"title": "Expert", "scope": "tag:kubernetes", "reason": "40 accepted answers on Kubernetes"}]})
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    scope: TitleScope | None = Field(default=None, description='"tag:<tag>" marks the member as the community\'s '
                                     "expert for that tag (shown on their profile, on the content service's expert "
                                     "list of the tag and on search hits of their posts in it); omit for a title for "
                                     "the whole community")


class TitleInUse(BaseModel):
    title: str
    holders: int
    built_in: bool


class TitleAuditEntry(BaseModel):
    title: str
    scope: str | None = None
    action: Literal["granted", "revoked"]
    by: str
    reason: str | None = None
    source_event: str | None = None
    at: datetime


class SuspensionCreate(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    until: Instant | None = Field(default=None, description="omit for an indefinite suspension")


class ModerationResult(BaseModel):
    user_id: str
    status: Literal["active", "suspended"]
    suspension: SuspensionRead | None = None


class PasswordChange(Strict):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(max_length=1024)


class DirectoryEntry(BaseModel):
    id: str
    display_name: str
    roles: list[str]
    status: Literal["active", "suspended"]
    suspension: SuspensionRead | None = None
    joined_at: datetime


class Following(BaseModel):
    users: list[str]
    tags: list[str]


class SegmentMember(BaseModel):
    user_id: str
    display_name: str
    company: str | None = None
    industry: str | None = None
    city: str | None = None
    roles: list[str]
    registered_at: datetime | None = None
    last_action_at: datetime | None = None
    recent_contributions: int
    accepted_answers: int
    articles: int
    talks: int
    segments: list[str]


class SegmentExport(BaseModel):
    segment: str
    definition: str
    count: int
    generated_at: datetime
    members: list[SegmentMember]


def _titles(doc: dict, detail: bool) -> list:
    cls = TitleDetail if detail else TitleRead
    return [cls.model_validate(t) for t in doc.get("titles", [])]


def public_profile(doc: dict) -> PublicProfile:
    return PublicProfile(
        id=doc["_id"], display_name=doc["display_name"], bio=doc.get("bio"), company=doc.get("company"),
        industry=doc.get("industry"), city=doc.get("city"), skills=doc.get("skills", []), roles=doc["roles"],
        titles=_titles(doc, False), sigs=doc.get("sigs", []), followers=doc.get("followers", 0),
        following=doc.get("following", 0), suspended=is_suspended(doc, utcnow()), joined_at=doc["created_at"],
    )


def user_read(doc: dict) -> UserRead:
    public = public_profile(doc).model_dump(exclude={"titles"})
    status: Literal["active", "suspended"] = "suspended" if public["suspended"] else "active"  # a lapsed 'until': active
    return UserRead(**public, email=doc["email"], status=status, suspension=doc.get("suspension") if public[
        "suspended"] else None,
                    titles=_titles(doc, True))


def sig_read(doc: dict) -> SigRead:
    return SigRead(id=doc["_id"], name=doc["name"], slug=doc["slug"], description=doc.get("description"),
                   tags=doc.get("tags", []), leads=doc.get("leads", []), member_count=doc.get("member_count", 0),
                   created_at=doc["created_at"])


def directory_entry(doc: dict) -> DirectoryEntry:
    return DirectoryEntry(id=doc["_id"], display_name=doc["display_name"], roles=doc["roles"], status=doc["status"],
                          suspension=doc.get("suspension"), joined_at=doc["created_at"])


def moderation_result(doc: dict) -> ModerationResult:
    return ModerationResult(user_id=doc["_id"], status=doc["status"], suspension=doc.get("suspension"))

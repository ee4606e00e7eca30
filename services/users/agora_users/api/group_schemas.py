"""Request and response bodies of user groups, announcements, the inbox and replies."""

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from agora_users.api.schemas import RoleName, ShortText, Strict, Tag
from agora_users.domain.segments import Segment

# shown in inboxes, mail subjects and logs: no control characters
OneLine = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                           pattern=r"^[^\x00-\x1f\x7f]+$")]
GroupName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=80,
                                             pattern=r"^[^\x00-\x1f\x7f]+$")]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Link = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000, pattern=r"^(https?://|/)\S*$")]


class MemberFilter(Strict):
    """Criteria that must all hold (the members directory's filters, plus a SIG and a segment), evaluated each time
    the group is used. `{}` is every member."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"industry": "Finance"},
                                                                              {"city": "Shanghai", "skill": "Go"}]})
    sig_id: UserId | None = Field(default=None, description="members of this SIG")
    segment: Segment | None = Field(default=None, description="members in this segment now (see GET /segments)")
    industry: ShortText | None = None
    city: ShortText | None = Field(default=None, description="any case")
    skill: Tag | None = Field(default=None, description="members listing this skill")
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = Field(
        default=None, description="holders of this honor title")
    role: RoleName | None = None


Members = Annotated[list[UserId], Field(min_length=1, max_length=10_000,
                                        description="an explicit list of member ids (instead of a filter)")]


class GroupCreate(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "Finance peers", "description": "members working in finance", "filter": {"industry": "Finance"}},
        {"name": "Storage SIG notices", "required": True, "filter": {"sig_id": "0190c3e2-..."}},
        {"name": "Speakers 2030", "members": ["0190c3e2-...", "0190c3e3-..."]}]})
    name: GroupName
    description: Description | None = None
    required: bool = Field(default=False, description="members cannot mute a required group (mandatory notices)")
    filter: MemberFilter | None = Field(default=None, description="who is in the group, evaluated at send time")
    members: Members | None = None

    @model_validator(mode="after")
    def _one_definition(self) -> Self:
        if (self.filter is None) == (self.members is None):
            raise ValueError("give exactly one of filter (members matching criteria) or members (a list of ids)")
        return self


class GroupUpdate(Strict):
    """Only what is sent changes; a new `filter` or `members` replaces the definition, whatever its kind."""

    name: GroupName | None = None
    description: Description | None = None
    required: bool | None = None
    filter: MemberFilter | None = None
    members: Members | None = None

    @model_validator(mode="after")
    def _at_most_one_definition(self) -> Self:
        if self.filter is not None and self.members is not None:
            raise ValueError("give filter or members, not both")
        return self


class GroupRead(BaseModel):
    id: str
    name: str
    description: str | None = None
    required: bool
    kind: Literal["filter", "members"] = Field(description="filter: evaluated at send time; members: a fixed list")
    filter: MemberFilter | None = None
    explicit_members: int | None = Field(default=None, description="how many ids the list has (kind members)")
    created_by: str
    created_at: datetime
    updated_at: datetime


class GroupDetail(GroupRead):
    member_count: int = Field(description="members the group resolves to now (muted ones included)")


class GroupMember(BaseModel):
    user_id: str
    display_name: str
    company: str | None = None
    industry: str | None = None
    city: str | None = None
    skills: list[str] = []
    titles: list[str] = []
    muted: bool = Field(description="muted the group: gets no inbox item unless the group is required")


class AnnouncementCreate(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"title": "Peer exchange for finance teams, 12 March", "body": "Join us to compare notes on ...",
         "link": "/api/v1/events/0190c3e2-..."}]})
    title: OneLine
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
    link: Link | None = Field(default=None, description="http(s) URL or a path, e.g. an event's")


class AnnouncementRead(BaseModel):
    id: str
    group_id: str
    group_name: str
    title: str
    body: str
    link: str | None = None
    required: bool = Field(description="the group was required when sent: mutes were not applied")
    sent_by: str
    sent_at: datetime
    status: Literal["delivering", "delivered"] = Field(
        description="delivering: interrupted before every batch was written; resend with the same "
                    "Idempotency-Key to resume")
    recipients: int = Field(description="inbox items written")
    muted: int = Field(description="members skipped because they muted the group")
    batches: int = Field(description="delivery batches (one AnnouncementDelivered event each)")
    delivered_at: datetime | None = None
    kind: Literal["announcement", "survey"] = Field(
        default="announcement", description="survey: the invitation to answer the survey `survey_id`")
    survey_id: str | None = None


class InboxItemRead(BaseModel):
    id: str
    kind: Literal["announcement", "survey", "answer_invitation"] = Field(
        description="announcement: an operator's announcement to a group; survey: an invitation (delivered like an "
                    "announcement) to answer the survey `survey_id` (link: the survey); answer_invitation: an "
                    "operator invited you to answer a question (link: the question)")
    announcement_id: str | None = Field(default=None, description="announcements and survey invitations only")
    survey_id: str | None = Field(default=None, description="survey invitations only")
    group_id: str | None = Field(default=None, description="announcements only")
    group_name: str | None = Field(default=None, description="announcements only")
    question_id: str | None = Field(default=None, description="answer invitations only")
    title: str = Field(description="the announcement's title, or the question's")
    body: str = Field(description="the announcement, or the operator's note with the invitation")
    link: str | None = None
    sent_by: str
    received_at: datetime
    read: bool
    read_at: datetime | None = None


class InboxCount(BaseModel):
    unread: int


class MutedGroup(BaseModel):
    group_id: str
    group_name: str
    muted_at: datetime


class ReplyCreate(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"body": "Count me in; can we cover "
                                                                                        "audit tooling?"}]})
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class ReplyRead(BaseModel):
    id: str
    announcement_id: str
    user_id: str
    display_name: str | None = Field(default=None, description="the author's display name now")
    body: str
    created_at: datetime


def group_read(doc: dict) -> GroupRead:
    return GroupRead(id=doc["_id"], name=doc["name"], description=doc.get("description"), required=doc["required"],
                     kind=doc["kind"], filter=MemberFilter(**doc["filter"]) if doc.get("filter") is not None else None,
                     explicit_members=doc.get("member_ids"), created_by=doc["created_by"],
                     created_at=doc["created_at"], updated_at=doc["updated_at"])


def group_member(doc: dict) -> GroupMember:
    return GroupMember(user_id=doc["_id"], display_name=doc.get("display_name") or "", company=doc.get("company"),
                       industry=doc.get("industry"), city=doc.get("city"), skills=doc.get("skills", []),
                       titles=[t["title"] for t in doc.get("titles", [])], muted=doc["muted"])


def announcement_read(doc: dict) -> AnnouncementRead:
    return AnnouncementRead.model_validate({"id": doc["_id"], **{k: doc.get(k) for k in (
        "group_id", "group_name", "title", "body", "link", "required", "sent_by", "sent_at", "status", "recipients",
        "muted", "batches", "delivered_at", "survey_id")}, "kind": doc.get("kind") or "announcement"})


def inbox_item(row: dict) -> InboxItemRead:
    if row.get("kind") == "answer_invitation":
        return InboxItemRead(id=row["_id"], kind="answer_invitation", question_id=row["question_id"],
                             title=row["title"], body=row["body"], link=row.get("link"), sent_by=row["sent_by"],
                             received_at=row["created_at"], read=row["read"], read_at=row.get("read_at"))
    ann = row["announcement"]
    return InboxItemRead(id=row["_id"], kind="survey" if ann.get("survey_id") else "announcement",
                         announcement_id=ann["_id"], survey_id=ann.get("survey_id"), group_id=ann["group_id"],
                         group_name=ann["group_name"], title=ann["title"], body=ann["body"], link=ann.get("link"),
                         sent_by=ann["sent_by"], received_at=row["created_at"], read=row["read"],
                         read_at=row.get("read_at"))


def reply_read(doc: dict) -> ReplyRead:
    return ReplyRead(id=doc["_id"], announcement_id=doc["announcement_id"], user_id=doc["user_id"],
                     display_name=doc.get("display_name"), body=doc["body"], created_at=doc["created_at"])

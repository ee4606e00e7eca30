"""MongoDB collections of the users service and their indexes."""

from dataclasses import dataclass, field

from agora_common import idempotency, outbox, uow
from agora_common.topics import Topics
from agora_common.uow import Transactions
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from agora_users.adapters.hashing import PasswordHasher
from agora_users.adapters.human_check import AcceptAll, HumanCheck
from agora_users.adapters.notices import AccountNotices, LogNotices
from agora_users.config import Settings

USERS = "users"
REFRESH_TOKENS = "refresh_tokens"
LOGIN_FAILURES = "login_failures"
SIGS = "sigs"
SIG_MEMBERS = "sig_members"
TITLE_AUDIT = "title_audit"
FOLLOWS = "follows"
PROCESSED_EVENTS = uow.PROCESSED_EVENTS  # what the activity consumer applied (kernel record)
ACTIVITY = "activity"
ACTIVITY_DAYS = "activity_days"
GROUPS = "groups"  # operators' user groups (a filter evaluated at send time, or an explicit member list)
GROUP_MUTES = "group_mutes"  # members who muted a group
ANNOUNCEMENTS = "announcements"
INBOX = "inbox"  # one row per member and announcement: read or not
REPLIES = "announcement_replies"
MAIL_DELIVERIES = "mail_deliveries"  # what the SMTP adapter mailed, per announcement and member
SURVEYS = "surveys"
SURVEY_TALLIES = "survey_tallies"  # a few counter shards per survey: the live results, never a scan of responses
# who responded to which survey (one per member and survey: the one-response rule), never what they answered
SURVEY_PARTICIPATIONS = "survey_participations"
# the answers; in an anonymous survey without the member (or any time), under a random id
SURVEY_RESPONSES = "survey_responses"


@dataclass
class Store:
    """Everything a use case needs to read and write: passed to every service function as `store`."""

    settings: Settings
    db: AsyncDatabase
    topics: Topics
    hasher: PasswordHasher
    transactions: Transactions  # every change: store.transactions.run(body) with body(uow: UnitOfWork)
    human_check: HumanCheck = field(default_factory=AcceptAll)  # CAPTCHA on registration and risky sign-ins
    notices: AccountNotices = field(default_factory=LogNotices)  # out-of-band messages to an account's owner

    def __getitem__(self, name: str):
        return self.db[name]


async def ensure_indexes(db: AsyncDatabase) -> None:
    # sparse: deleted accounts drop their email key, so the address can be registered again
    await db[USERS].create_index("email_key", unique=True, sparse=True)
    await db[USERS].create_index([("status", ASCENDING)])
    # the operators' directory filters
    await db[USERS].create_index([("industry", ASCENDING), ("_id", ASCENDING)], sparse=True)
    await db[USERS].create_index([("skills", ASCENDING), ("_id", ASCENDING)])
    await db[USERS].create_index([("titles.key", ASCENDING), ("_id", ASCENDING)])
    await db[REFRESH_TOKENS].create_index([("family", ASCENDING)])
    # sign-in failure counters and locks go once they can no longer matter (the reads ignore stale ones anyway)
    await db[LOGIN_FAILURES].create_index("expires_at", expireAfterSeconds=0)
    await db[REFRESH_TOKENS].create_index([("user_id", ASCENDING)])
    await db[SIGS].create_index("slug", unique=True)
    await db[SIG_MEMBERS].create_index([("user_id", ASCENDING)])
    await db[SIG_MEMBERS].create_index([("sig_id", ASCENDING), ("joined_at", ASCENDING)])
    await db[TITLE_AUDIT].create_index([("user_id", ASCENDING), ("at", DESCENDING)])
    await db[FOLLOWS].create_index([("follower_id", ASCENDING), ("kind", ASCENDING)])
    await db[FOLLOWS].create_index([("kind", ASCENDING), ("target", ASCENDING)])
    await db[ACTIVITY].create_index([("last_action_at", DESCENDING)])
    await db[ACTIVITY].create_index([("contributor", ASCENDING)])
    await db[ACTIVITY_DAYS].create_index([("day", ASCENDING), ("user_id", ASCENDING)])
    await db[GROUPS].create_index("name_key", unique=True)
    await db[GROUP_MUTES].create_index([("group_id", ASCENDING), ("user_id", ASCENDING)])
    await db[GROUP_MUTES].create_index([("user_id", ASCENDING)])
    await db[ANNOUNCEMENTS].create_index([("group_id", ASCENDING), ("_id", DESCENDING)])
    await db[INBOX].create_index([("source_id", ASCENDING), ("user_id", ASCENDING)], unique=True)
    # one index for a member's listing (read or unread, newest first) and unread count: every index costs each of
    # an announcement's thousands of inserts (two secondary indexes instead of three: ~1.5x faster delivery here)
    await db[INBOX].create_index([("user_id", ASCENDING), ("read", ASCENDING), ("_id", DESCENDING)])
    await db[REPLIES].create_index([("announcement_id", ASCENDING), ("_id", ASCENDING)])
    # account deletion finds a member's replies and mail records
    await db[REPLIES].create_index([("user_id", ASCENDING)])
    await db[MAIL_DELIVERIES].create_index([("user_id", ASCENDING)])
    await db[SURVEYS].create_index([("status", ASCENDING), ("_id", DESCENDING)])
    await db[SURVEY_PARTICIPATIONS].create_index([("user_id", ASCENDING)])
    await db[SURVEY_RESPONSES].create_index([("survey_id", ASCENDING), ("_id", ASCENDING)])
    await outbox.ensure_indexes(db)
    await idempotency.ensure_indexes(db)

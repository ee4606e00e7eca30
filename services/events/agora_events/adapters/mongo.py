"""MongoDB collections and indexes."""

from agora_common import idempotency, outbox
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

EVENTS = "events"
SERIES = "series"
REGISTRATIONS = "registrations"
EXAMS = "exams"
ATTEMPTS = "attempts"
CERTIFICATES = "certificates"
SUBMISSIONS = "submissions"
SCORES = "scores"
SERVICE_KEYS = "service_keys"

async def ensure_indexes(db: AsyncDatabase) -> None:
    await outbox.ensure_indexes(db)
    await idempotency.ensure_indexes(db)
    await db[EVENTS].create_index([("status", ASCENDING), ("starts_at", ASCENDING)])
    await db[EVENTS].create_index([("series_id", ASCENDING), ("starts_at", ASCENDING)])
    # the operators' filters: peer exchanges of an industry, meetups of a city, by start time
    await db[EVENTS].create_index([("industry", ASCENDING), ("starts_at", ASCENDING)], sparse=True)
    await db[EVENTS].create_index([("city", ASCENDING), ("starts_at", ASCENDING)], sparse=True)
    regs = db[REGISTRATIONS]
    # one active (confirmed or waitlisted) registration per user and event; cancelled ones drop the key
    await regs.create_index("active_key", unique=True, sparse=True)
    await regs.create_index("checkin_code", unique=True)
    await regs.create_index([("event_id", ASCENDING), ("status", ASCENDING), ("seq", ASCENDING)])
    await regs.create_index([("user_id", ASCENDING), ("event_id", ASCENDING)])
    await db[ATTEMPTS].create_index([("event_id", ASCENDING), ("user_id", ASCENDING)])
    await db[ATTEMPTS].create_index("open_key", unique=True, sparse=True)
    await db[CERTIFICATES].create_index([("event_id", ASCENDING), ("user_id", ASCENDING)], unique=True)
    await db[SUBMISSIONS].create_index([("event_id", ASCENDING), ("user_id", ASCENDING)], unique=True)
    await db[SCORES].create_index([("submission_id", ASCENDING), ("judge_id", ASCENDING)], unique=True)
    await db[SCORES].create_index("event_id")

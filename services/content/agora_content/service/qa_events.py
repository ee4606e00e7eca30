"""Online Q&A events, as content learns them from the events topic: a question may belong to a Q&A session that is
published or live (members send questions ahead and during it); after the session the thread stays as normal
content, listed and searchable by its event."""

from typing import Any

from agora_common.errors import Conflict, NotFound
from agora_common.events import Envelope
from agora_common.events.community import EventCancelled, EventEnded, EventPublished, EventStarted, EventUpdated
from agora_common.events.dispatch import EventHandlers
from agora_common.mongo import upsert_if_newer

from agora_content.adapters.store import Store

COLLECTION = "qa_events"
OPEN_FOR_QUESTIONS = ("published", "live")


async def ensure_open_for_questions(*, store: Store, event_id: str) -> dict:
    event = await store.db[COLLECTION].find_one({"_id": event_id})
    if event is None:
        raise NotFound(f"no online Q&A session {event_id} (or not published yet)", code="qa_event_not_found")
    if event["status"] not in OPEN_FOR_QUESTIONS:
        raise Conflict(f"the Q&A session is {event['status']}: it takes no more questions",
                       code="qa_event_closed", details={"status": event["status"]})
    return event


async def is_live(*, store: Store, event_id: str | None) -> bool:
    """Whether the Q&A session is running now (an answer posted now is an answer during the event)."""
    if not event_id:
        return False
    event = await store.db[COLLECTION].find_one({"_id": event_id}, {"status": 1})
    return event is not None and event["status"] == "live"


async def _apply(store: Store, event: Any, envelope: Envelope, **fields: Any) -> None:
    await upsert_if_newer(store.db[COLLECTION], event.event_id, envelope.version, fields)


HANDLERS: EventHandlers[Any] = EventHandlers("content.qa_events")


@HANDLERS.on(EventPublished)
async def _published(event: EventPublished, envelope: Envelope, *, store: Store) -> None:
    if event.kind == "qa_session":
        await _apply(store, event, envelope, title=event.title, starts_at=event.starts_at, ends_at=event.ends_at,
                     status="published")


@HANDLERS.on(EventUpdated)
async def _updated(event: EventUpdated, envelope: Envelope, *, store: Store) -> None:
    if event.kind == "qa_session":
        await _apply(store, event, envelope, title=event.title, starts_at=event.starts_at, ends_at=event.ends_at)


@HANDLERS.on(EventStarted)
async def _started(event: EventStarted, envelope: Envelope, *, store: Store) -> None:
    if event.kind == "qa_session":
        await _apply(store, event, envelope, status="live")


@HANDLERS.on(EventEnded)
async def _ended(event: EventEnded, envelope: Envelope, *, store: Store) -> None:
    if event.kind == "qa_session":
        await _apply(store, event, envelope, status="ended")


@HANDLERS.on(EventCancelled)
async def _cancelled(event: EventCancelled, envelope: Envelope, *, store: Store) -> None:
    if event.kind == "qa_session":
        await _apply(store, event, envelope, status="cancelled")


async def handle_events_event(envelope: Envelope, *, store: Store) -> None:
    await HANDLERS.dispatch(envelope, store=store)

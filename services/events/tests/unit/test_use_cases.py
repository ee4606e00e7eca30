"""The events use cases on in-memory fakes (no servers): lifecycle, capacity and the waitlist, and the events
each emits, in milliseconds. Transactions, concurrency and the outbox are the integration tests' part."""

from datetime import UTC, datetime, timedelta

import pytest
from agora_common.auth import Principal
from agora_common.errors import Conflict, NotFound
from agora_events.adapters.mongo import ensure_indexes
from agora_events.config import Settings
from agora_events.domain.lifecycle import Action
from agora_events.service import events, registrations
from agora_events.service.context import Ctx
from agora_testing.fakes import FakeTransactions, memory_database
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

OPERATOR = Principal(id="op", roles=["operator"], name="Operator")


def member(name: str) -> Principal:
    return Principal(id=name, roles=["member"], name=name.title())


@pytest.fixture
async def ctx() -> Ctx:
    db = memory_database()
    await ensure_indexes(db)
    return Ctx(settings=Settings(), db=db, transactions=FakeTransactions(db),
               signing_key=Ed25519PrivateKey.generate())


async def open_meetup(ctx: Ctx, capacity: int) -> dict:
    doc, _ = await events.create(ctx=ctx, user=OPERATOR, fields={
        "kind": "meetup", "title": "Storage meetup", "city": "Shanghai", "venue": "Hub", "online": False,
        "tags": ["storage"], "capacity": capacity, "starts_at": datetime.now(UTC) + timedelta(days=7)})
    for action in (Action.PUBLISH, Action.OPEN_REGISTRATION):
        doc = await events.apply_action(ctx=ctx, event_id=doc["_id"], action=action, user=OPERATOR)
    return doc


async def test_a_full_event_waitlists_and_a_cancellation_promotes_the_first_in_line(ctx):
    event = await open_meetup(ctx, capacity=1)
    first, _ = await registrations.register(ctx=ctx, event_id=event["_id"], user=member("ada"))
    second, _ = await registrations.register(ctx=ctx, event_id=event["_id"], user=member("bob"))
    third, _ = await registrations.register(ctx=ctx, event_id=event["_id"], user=member("cy"))
    assert (first["status"], second["status"], third["status"]) == ("confirmed", "waitlisted", "waitlisted")
    assert (second["position"], third["position"]) == (1, 2)
    with pytest.raises(Conflict):
        await registrations.register(ctx=ctx, event_id=event["_id"], user=member("ada"))

    await registrations.cancel_mine(ctx=ctx, event_id=event["_id"], user=member("ada"))
    promoted = await registrations.mine(ctx=ctx, event_id=event["_id"], user=member("bob"))
    assert promoted["status"] == "confirmed"
    published = [e for e in ctx.transactions.published if e.subject == event["_id"]]
    assert [e.type for e in published][-2:] == ["RegistrationCancelled", "PromotedFromWaitlist"]
    versions = [e.version for e in published]
    assert versions == list(range(versions[0], versions[0] + len(versions)))  # one event, one version each


async def test_registration_is_refused_before_it_opens_and_drafts_are_invisible(ctx):
    draft, _ = await events.create(ctx=ctx, user=OPERATOR, fields={
        "kind": "training", "title": "Operators' training", "online": True,
        "starts_at": datetime.now(UTC) + timedelta(days=3)})
    with pytest.raises(NotFound):
        await registrations.register(ctx=ctx, event_id=draft["_id"], user=member("ada"))
    await events.apply_action(ctx=ctx, event_id=draft["_id"], action=Action.PUBLISH, user=OPERATOR)
    with pytest.raises(Conflict) as err:
        await registrations.register(ctx=ctx, event_id=draft["_id"], user=member("ada"))
    assert err.value.code == "registration_not_open"
    assert ctx.transactions.types() == ["EventPublished"]

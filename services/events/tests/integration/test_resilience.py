"""The service boots and takes registrations while the broker is down; the outbox publishes them later.
Deleted accounts (UserDeleted on the users topic) give back their places, once, even when the event is replayed."""

import socket
from datetime import UTC, datetime

import pytest
from agora_common.events import Envelope
from agora_common.events.users import UserDeleted
from agora_common.kafka import EventPublisher
from agora_common.topics import Topics
from agora_testing.events import eventually

from .conftest import make_settings, serve

pytestmark = pytest.mark.servers("kafka", "mongo")


def _dead_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"  # nothing listens there once closed


async def test_boots_without_the_broker_and_publishes_later(agora_env, db_for):
    down = make_settings(agora_env, kafka_bootstrap=_dead_address())
    async with serve(down) as api:
        assert (await api.client.get("/healthz")).status_code == 200
        event = await api.open_event(capacity=1)
        assert (await api.register(event["id"], "a")).status_code == 201
        assert (await api.register(event["id"], "b")).json()["status"] == "waitlisted"
    db = db_for(down)
    assert await db.outbox.count_documents({"published": False}) == 4

    async with serve(make_settings(agora_env)) as api:  # the broker is back
        got = await api.events(until=lambda es: len(es) >= 4)
    assert [e.type for e in got] == ["EventPublished", "RegistrationOpened", "RegistrationConfirmed", "Waitlisted"]
    assert await db.outbox.count_documents({"published": False}) == 0


async def test_a_deleted_account_gives_its_place_to_the_waitlist(agora_env, db_for):
    settings = make_settings(agora_env, consume_users=True)
    async with serve(settings) as api:
        event = await api.open_event(capacity=1)
        eid = event["id"]
        await api.register(eid, "gone")
        await api.register(eid, "next")
        deleted = Envelope.wrap(UserDeleted(user_id="gone"), subject="gone", version=9,
                                time=datetime.now(UTC))
        publisher = EventPublisher(settings.kafka_bootstrap)
        try:
            await publisher.publish(Topics(settings.topic_prefix).users, deleted)
            await publisher.publish(Topics(settings.topic_prefix).users, deleted)  # redelivered
        finally:
            await publisher.stop()

        async def promoted():
            mine = (await api.client.get(f"/api/v1/events/{eid}/registrations/me", **api.as_user("next"))).json()
            assert mine["status"] == "confirmed"

        await eventually(promoted, timeout=60)
        got = await api.events(until=lambda es: any(e.type == "PromotedFromWaitlist" for e in es))
        assert [e.type for e in got][-2:] == ["RegistrationCancelled", "PromotedFromWaitlist"]
        assert got[-2].actor == "system:user-deleted"
    db = db_for(settings)
    assert (await db.events.find_one({"_id": eid}))["counts"] == {
        "confirmed": 1, "waitlisted": 0, "cancelled": 1, "checked_in": 0}

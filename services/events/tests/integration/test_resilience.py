"""The service boots and takes registrations while the broker is down; the outbox publishes them later.
Deleted accounts (UserDeleted on the users topic) give back their places, once, even when the event is replayed;
suspended and deleted members, whose access tokens still live, can no longer register or sit exams."""

import socket
from datetime import UTC, datetime

import pytest
from agora_common.events import Envelope
from agora_common.events.users import UserDeleted, UserReinstated, UserSuspended
from agora_common.kafka import EventPublisher
from agora_common.topics import Topics
from agora_testing.waiting import eventually

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


async def test_revocation_reaches_the_events_service_while_tokens_still_live(agora_env, db_for):
    settings = make_settings(agora_env, consume_users=True)
    users = Topics(settings.topic_prefix).users
    members = db_for(settings).members
    publisher = EventPublisher(settings.kafka_bootstrap)
    now = datetime.now(UTC)

    async def learned(version: int):  # the users consumer has applied the event of this version
        async def check():
            doc = await members.find_one({"_id": "mallory"})
            assert doc is not None and doc.get("version") == version, doc

        await eventually(check, timeout=30)

    try:
        async with serve(settings) as api:
            first, second = await api.open_event(), await api.open_event()

            async def refused(event_id, code):
                r = await api.register(event_id, "mallory")
                assert r.status_code == 403 and r.json()["error"]["code"] == code, r.text

            await publisher.publish(users, Envelope.wrap(
                UserSuspended(user_id="mallory", moderator_id="mod", reason="spam"), subject="mallory", version=2,
                time=now))
            await learned(2)
            await refused(first["id"], "account_suspended")
            assert (await api.register(first["id"], "alice")).status_code == 201  # others are not affected
            await publisher.publish(users, Envelope.wrap(UserReinstated(user_id="mallory", moderator_id="mod"),
                                                         subject="mallory", version=3, time=now))
            await learned(3)
            assert (await api.register(first["id"], "mallory")).status_code == 201
            await publisher.publish(users, Envelope.wrap(UserDeleted(user_id="mallory"), subject="mallory",
                                                         version=4, time=now))
            await learned(4)
            await refused(second["id"], "account_deleted")  # the token still lives; the account does not

            async def freed():  # and the place it held is given back
                r = await api.client.get(f"/api/v1/events/{first['id']}/registrations/me", **api.as_user("mallory"))
                assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text

            await eventually(freed, timeout=30)
    finally:
        await publisher.stop()

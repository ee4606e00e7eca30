"""Registration under concurrency, FIFO waitlist, promotion, cancellation, check-in: real MongoDB and Kafka."""

import asyncio
import time

import pytest
from agora_testing.events import read_events

pytestmark = pytest.mark.servers("kafka", "mongo")


async def test_200_concurrent_registrations_for_50_places_never_overbook(api, second_api, db):
    event = await api.open_event(capacity=50)
    eid = event["id"]
    users = [f"u{i:03d}" for i in range(200)]
    started = time.perf_counter()
    # two service instances at once: in-process queuing cannot hide a race, only the database can prevent it
    responses = await asyncio.gather(*(
        (api if i % 2 == 0 else second_api).register(eid, u) for i, u in enumerate(users)
    ))
    elapsed = time.perf_counter() - started
    print(f"\n200 concurrent registrations over 2 instances: {elapsed:.2f}s")
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201][:3]
    bodies = [r.json() for r in responses]
    confirmed = [b for b in bodies if b["status"] == "confirmed"]
    waitlisted = [b for b in bodies if b["status"] == "waitlisted"]
    assert len(confirmed) == 50 and len(waitlisted) == 150
    assert sorted(b["position"] for b in waitlisted) == list(range(1, 151))
    assert all(b["position"] is None for b in confirmed)
    assert len({b["checkin_code"] for b in bodies}) == 200

    stored = await db.events.find_one({"_id": eid})
    assert stored["counts"]["confirmed"] == 50 and stored["counts"]["waitlisted"] == 150
    assert await db.registrations.count_documents({"event_id": eid, "status": "confirmed"}) == 50
    assert stored["version"] == 2 + 200

    # the waitlist, in arrival (commit) order, is exactly the positions each registrant was told
    r = await api.client.get(f"/api/v1/events/{eid}/waitlist", params={"limit": 500}, **api.op)
    listed = r.json()["items"]
    assert [w["position"] for w in listed] == list(range(1, 151))
    told = {b["user_id"]: b["position"] for b in waitlisted}
    assert [told[w["user_id"]] for w in listed] == list(range(1, 151))

    raw = await read_events(api.settings.kafka_bootstrap, api.topic, until=lambda es: len(es) >= 202)
    await asyncio.sleep(1.0)  # time for a duplicate to show up, if one relay too many were publishing
    raw = await read_events(api.settings.kafka_bootstrap, api.topic, until=lambda es: False, timeout=1.5)
    assert len({e.id for e in raw}) == len(raw) == 202  # one relay at a time: no duplicates
    got = raw
    regs = got[2:]
    assert sum(e.type == "RegistrationConfirmed" for e in regs) == 50
    assert sorted(e.data["position"] for e in regs if e.type == "Waitlisted") == list(range(1, 151))
    assert [e.version for e in got] == list(range(1, 203))  # in commit order

    # a confirmed attendee cancels: waitlist #1 is promoted, everyone else moves up one place
    first = listed[0]["user_id"]
    leaver = confirmed[0]["user_id"]
    r = await api.client.delete(f"/api/v1/events/{eid}/registrations/me", **api.as_user(leaver))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    mine = (await api.client.get(f"/api/v1/events/{eid}/registrations/me", **api.as_user(first))).json()
    assert mine["status"] == "confirmed" and mine["position"] is None
    second = (await api.client.get(f"/api/v1/events/{eid}/registrations/me",
                                   **api.as_user(listed[1]["user_id"]))).json()
    assert second["position"] == 1
    stored = await db.events.find_one({"_id": eid})
    assert stored["counts"] == {"confirmed": 50, "waitlisted": 149, "cancelled": 1, "checked_in": 0}
    got = await api.events(until=lambda es: len(es) >= 204)
    assert [(e.version, e.type, e.data["user_id"]) for e in got if e.version > 202] == [
        (203, "RegistrationCancelled", leaver), (204, "PromotedFromWaitlist", first)]
    assert next(e for e in got if e.version == 203).data["was_confirmed"] is True


async def test_cancelling_a_waitlisted_place_promotes_nobody_and_keeps_order(api, db):
    event = await api.open_event(capacity=1)
    eid = event["id"]
    for u in ("a", "b", "c", "d"):
        assert (await api.register(eid, u)).status_code == 201
    r = await api.client.delete(f"/api/v1/events/{eid}/registrations/me", **api.as_user("c"))
    assert r.status_code == 200
    listed = (await api.client.get(f"/api/v1/events/{eid}/waitlist", **api.op)).json()["items"]
    assert [(w["user_id"], w["position"]) for w in listed] == [("b", 1), ("d", 2)]
    assert (await db.events.find_one({"_id": eid}))["counts"]["confirmed"] == 1
    # cancelling again: nothing active any more
    again = await api.client.delete(f"/api/v1/events/{eid}/registrations/me", **api.as_user("c"))
    assert again.status_code == 404
    # and c can register again, at the end of the queue
    back = await api.register(eid, "c")
    assert back.status_code == 201 and back.json()["position"] == 3


async def test_more_capacity_promotes_from_the_waitlist_in_order(api):
    event = await api.open_event(capacity=1)
    eid = event["id"]
    for u in ("a", "b", "c", "d"):
        await api.register(eid, u)
    r = await api.client.patch(f"/api/v1/events/{eid}", json={"capacity": 3}, **api.op)
    assert r.status_code == 200 and r.json()["counts"]["confirmed"] == 3 and r.json()["spots_left"] == 0
    listed = (await api.client.get(f"/api/v1/events/{eid}/waitlist", **api.op)).json()["items"]
    assert [w["user_id"] for w in listed] == ["d"]
    r = await api.client.patch(f"/api/v1/events/{eid}", json={"capacity": 2}, **api.op)
    assert r.status_code == 409 and r.json()["error"]["code"] == "capacity_below_confirmed"
    got = await api.events(until=lambda es: len(es) >= 9)
    assert [e.type for e in got[6:]] == ["EventUpdated", "PromotedFromWaitlist", "PromotedFromWaitlist"]
    assert [e.data["user_id"] for e in got[7:]] == ["b", "c"]


async def test_registration_rules(api, db):
    event = await api.create_event(capacity=5)
    eid = event["id"]
    assert (await api.register(eid, "a")).status_code == 404  # draft: not visible
    await api.act(eid, "publish")
    r = await api.register(eid, "a")
    assert r.status_code == 409 and r.json()["error"]["code"] == "registration_not_open"
    await api.act(eid, "open-registration")
    assert (await api.register(eid, "a")).status_code == 201
    dup = await api.register(eid, "a")
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "already_registered"
    assert await db.registrations.count_documents({"event_id": eid}) == 1
    assert (await db.events.find_one({"_id": eid}))["counts"]["confirmed"] == 1
    anonymous = await api.client.post(f"/api/v1/events/{eid}/registrations")
    assert anonymous.status_code == 401
    # nobody else sees someone's check-in code, organisers do
    other = await api.client.get(f"/api/v1/events/{eid}/registrations", **api.as_user("a"))
    assert other.status_code == 403
    listed = (await api.client.get(f"/api/v1/events/{eid}/registrations", **api.op)).json()["items"]
    assert listed[0]["checkin_code"]
    qr = await api.client.get(f"/api/v1/events/{eid}/registrations/me/qr.svg", **api.as_user("a"))
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml" and b"<svg" in qr.content
    metrics = (await api.client.get("/metrics")).text
    assert 'agora_community_registrations_total{outcome="confirmed"}' in metrics
    await api.act(eid, "start")
    late = await api.client.delete(f"/api/v1/events/{eid}/registrations/me", **api.as_user("a"))
    assert late.status_code == 409 and late.json()["error"]["code"] == "cancellation_closed"


async def test_check_in_is_recorded_once(api, db):
    event = await api.open_event(capacity=1, hosts=["host-1"])
    eid = event["id"]
    code = (await api.register(eid, "a")).json()["checkin_code"]
    waiting_code = (await api.register(eid, "b")).json()["checkin_code"]
    assert len(code) >= 22  # 128 random bits

    member = await api.client.post(f"/api/v1/events/{eid}/checkins", json={"code": code}, **api.as_user("a"))
    assert member.status_code == 403
    unknown = await api.client.post(f"/api/v1/events/{eid}/checkins", json={"code": "x" * 22}, **api.op)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_code"
    waiting = await api.client.post(f"/api/v1/events/{eid}/checkins", json={"code": waiting_code}, **api.op)
    assert waiting.status_code == 409 and waiting.json()["error"]["code"] == "not_confirmed"

    first = await api.client.post(f"/api/v1/events/{eid}/checkins", json={"code": code},
                                  **api.as_user("host-1"))
    assert first.status_code == 200 and first.json()["user_id"] == "a" and first.json()["checked_in_at"]
    second = await api.client.post(f"/api/v1/events/{eid}/checkins", json={"code": code}, **api.op)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "already_checked_in"
    assert second.json()["error"]["message"].startswith("already checked in at ")
    assert (await db.events.find_one({"_id": eid}))["counts"]["checked_in"] == 1

    got = await api.events(until=lambda es: len(es) >= 5)
    await asyncio.sleep(0.5)  # give a wrongly published second check-in the time to show up
    got = await api.events(until=lambda es: False, timeout=1.0)
    assert [e.type for e in got].count("AttendeeCheckedIn") == 1
    checked = next(e for e in got if e.type == "AttendeeCheckedIn")
    assert checked.data["user_id"] == "a" and checked.actor == "host-1"
    # a checked-in attendee cannot cancel afterwards
    r = await api.client.delete(f"/api/v1/events/{eid}/registrations/me", **api.as_user("a"))
    assert r.status_code == 409


async def test_check_in_is_closed_before_registration_and_after_the_end(api):
    event = await api.open_event()
    eid = event["id"]
    code = (await api.register(eid, "a")).json()["checkin_code"]
    await api.act(eid, "start", "end")
    r = await api.client.post(f"/api/v1/events/{eid}/checkins", json={"code": code}, **api.op)
    assert r.status_code == 409 and r.json()["error"]["code"] == "check_in_closed"
    bad = await api.client.post(f"/api/v1/events/{eid}/checkins", json={"code": ""}, **api.op)
    assert bad.status_code == 422


async def test_full_registration_list_shows_waitlist_positions(api):
    event = await api.open_event(capacity=1)
    for u in ("a", "b", "c"):
        await api.register(event["id"], u)
    await api.client.delete(f"/api/v1/events/{event['id']}/registrations/me", **api.as_user("b"))
    listed = (await api.client.get(f"/api/v1/events/{event['id']}/registrations", **api.op)).json()["items"]
    assert [(r["user_id"], r["status"], r["position"]) for r in listed] == [
        ("a", "confirmed", None), ("b", "cancelled", None), ("c", "waitlisted", 1)]


async def test_my_registrations_across_events(api):
    one = await api.open_event(title="One", capacity=1)
    two = await api.open_event(title="Two", capacity=1)
    await api.register(two["id"], "someone")
    await api.register(one["id"], "me")
    await api.register(two["id"], "me")
    r = await api.client.get("/api/v1/events/me/registrations", **api.as_user("me"))
    assert r.status_code == 200
    assert [(x["event_title"], x["status"], x["position"]) for x in r.json()["items"]] == [
        ("Two", "waitlisted", 1), ("One", "confirmed", None)]
    assert all(x["checkin_code"] for x in r.json()["items"])
    assert (await api.client.get("/api/v1/events/me/registrations")).status_code == 401


async def test_manual_check_in_by_registration_id_and_csv_export(api):
    event = await api.open_event(capacity=5)
    eid = event["id"]
    reg = (await api.register(eid, "forgot-phone")).json()
    await api.register(eid, "other")
    both = await api.client.post(f"/api/v1/events/{eid}/checkins",
                                 json={"code": reg["checkin_code"], "registration_id": reg["id"]}, **api.op)
    assert both.status_code == 422
    r = await api.client.post(f"/api/v1/events/{eid}/checkins", json={"registration_id": reg["id"]}, **api.op)
    assert r.status_code == 200 and r.json()["checked_in_at"]
    again = await api.client.post(f"/api/v1/events/{eid}/checkins", json={"code": reg["checkin_code"]}, **api.op)
    assert again.status_code == 409
    csv = await api.client.get(f"/api/v1/events/{eid}/registrations.csv", **api.op)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0] == "registration_id,user_id,user_name,status,position,created_at,checked_in_at,cancelled_at"
    assert len(lines) == 3 and "forgot-phone" in lines[1] and lines[1].split(",")[6]
    assert (await api.client.get(f"/api/v1/events/{eid}/registrations.csv", **api.as_user("other"))).status_code == 403


async def test_a_registration_retried_with_its_idempotency_key_answers_the_first_result(api):
    event = await api.open_event(capacity=1)
    url = f"/api/v1/events/{event['id']}/registrations"
    key = {"Idempotency-Key": "reg-7f3a"}
    first = await api.client.post(url, headers={**api.headers("ann"), **key})
    again = await api.client.post(url, headers={**api.headers("ann"), **key})  # e.g. after a gateway timeout
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.json()["status"] == "confirmed"
    other = await api.client.post(url, headers={**api.headers("bob"), **key})  # keys are per member
    assert other.status_code == 201 and other.json()["status"] == "waitlisted"
    plain = await api.client.post(url, headers=api.headers("ann"))  # without a key: the usual answer
    assert plain.status_code == 409 and plain.json()["error"]["code"] == "already_registered"
    stats = (await api.client.get(f"/api/v1/events/{event['id']}", **api.op)).json()
    assert stats["counts"]["confirmed"] == 1 and stats["counts"]["waitlisted"] == 1

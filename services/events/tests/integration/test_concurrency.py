"""Races the organisers' side produces: simultaneous scans and simultaneous cancellations, on two instances."""

import asyncio

import pytest

pytestmark = pytest.mark.servers("kafka", "mongo")


async def test_simultaneous_scans_of_one_code_record_one_attendance(api, second_api, db):
    event = await api.open_event(capacity=5)
    eid = event["id"]
    code = (await api.register(eid, "a")).json()["checkin_code"]
    scans = await asyncio.gather(*(
        (api if i % 2 else second_api).client.post(f"/api/v1/events/{eid}/checkins", json={"code": code}, **api.op)
        for i in range(6)
    ))
    assert sorted(r.status_code for r in scans) == [200] + [409] * 5
    assert (await db.events.find_one({"_id": eid}))["counts"]["checked_in"] == 1
    got = await api.events(until=lambda es: len(es) >= 4)
    await asyncio.sleep(0.5)
    got = await api.events(until=lambda es: False, timeout=1.0)
    assert [e.type for e in got].count("AttendeeCheckedIn") == 1


async def test_simultaneous_cancellations_promote_each_waiting_person_once_in_order(api, second_api, db):
    event = await api.open_event(capacity=4)
    eid = event["id"]
    for i in range(10):
        assert (await api.register(eid, f"u{i}")).status_code == 201
    leavers = ["u0", "u1", "u2", "u3"]
    results = await asyncio.gather(*(
        (api if i % 2 else second_api).client.delete(f"/api/v1/events/{eid}/registrations/me",
                                                     **api.as_user(u))
        for i, u in enumerate(leavers)
    ))
    assert all(r.status_code == 200 for r in results)
    confirmed = await db.registrations.find({"event_id": eid, "status": "confirmed"}).to_list()
    assert sorted(r["user_id"] for r in confirmed) == ["u4", "u5", "u6", "u7"]
    waitlist = (await api.client.get(f"/api/v1/events/{eid}/waitlist", **api.op)).json()["items"]
    assert [(w["user_id"], w["position"]) for w in waitlist] == [("u8", 1), ("u9", 2)]
    assert (await db.events.find_one({"_id": eid}))["counts"] == {
        "confirmed": 4, "waitlisted": 2, "cancelled": 4, "checked_in": 0}
    got = await api.events(until=lambda es: sum(e.type == "PromotedFromWaitlist" for e in es) >= 4)
    promoted = sorted((e.version, e.data["user_id"]) for e in got if e.type == "PromotedFromWaitlist")
    assert [u for _, u in promoted] == ["u4", "u5", "u6", "u7"]
    assert len({e.version for e in got}) == len(got)  # no version handed out twice

"""Weekly series, their calendar feed, and the operators' figures per event and per series."""

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

pytestmark = pytest.mark.servers("kafka", "mongo")


async def test_weekly_series_calendar_and_stats(api, db):
    first = datetime(2030, 3, 4, 18, 0, tzinfo=UTC)
    body = {"title": "Cloud native weekly", "first_starts_at": first.isoformat(), "duration_minutes": 90,
            "occurrences": 4, "capacity": 2, "tags": ["cloud"], "sig_id": "sig-cloud",
            "stream_url": "https://live.example.org/cn"}
    r = await api.client.post("/api/v1/events/series", json=body, **api.op)
    assert r.status_code == 201, r.text
    series = r.json()
    sid = series["id"]
    assert len(series["event_ids"]) == 4
    assert [x["id"] for x in (await api.client.get("/api/v1/events/series")).json()["items"]] == [sid]
    empty = Calendar.from_ical((await api.client.get(f"/api/v1/events/series/{sid}.ics")).content)
    assert empty.walk("VEVENT") == []  # drafts stay private

    published = (await api.client.post(f"/api/v1/events/series/{sid}/publish", **api.op)).json()
    assert [e["status"] for e in published] == ["published"] * 4
    r = await api.client.get(f"/api/v1/events/series/{sid}.ics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    vevents = Calendar.from_ical(r.content).walk("VEVENT")
    assert [v.decoded("dtstart") for v in vevents] == [first + timedelta(weeks=i) for i in range(4)]
    assert all(v.decoded("dtend") - v.decoded("dtstart") == timedelta(minutes=90) for v in vevents)
    assert str(vevents[0]["summary"]) == "Cloud native weekly #1"

    # week 1: three register for two places, one attends; week 2: one registers and attends; week 3 cancelled
    e1, e2, e3, _ = series["event_ids"]
    await api.act(e1, "open-registration")
    codes = [(await api.register(e1, u)).json()["checkin_code"] for u in ("a", "b", "c")]
    await api.act(e1, "start")
    await api.client.post(f"/api/v1/events/{e1}/checkins", json={"code": codes[0]}, **api.op)
    await api.act(e1, "end")
    await api.act(e2, "open-registration")
    code = (await api.register(e2, "a")).json()["checkin_code"]
    await api.client.post(f"/api/v1/events/{e2}/checkins", json={"code": code}, **api.op)
    await api.act(e2, "start", "end")
    await api.act(e3, "cancel")

    stats = (await api.client.get(f"/api/v1/events/{e1}/stats", **api.op)).json()
    assert stats["confirmed"] == 2 and stats["waitlisted"] == 1 and stats["checked_in"] == 1
    assert stats["attendance_rate"] == 0.5 and stats["no_show_rate"] == 0.5 and stats["fill_rate"] == 1.0

    r = await api.client.get(f"/api/v1/events/series/{sid}/stats", **api.op)
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["occurrences"] == 4 and s["ended_occurrences"] == 2
    assert s["confirmed"] == 3 and s["checked_in"] == 2 and s["waitlisted"] == 1
    assert s["attendance_rate"] == round(2 / 3, 4) and s["no_show_rate"] == round(1 / 3, 4)
    assert [e["status"] for e in s["events"]] == ["ended", "ended", "cancelled", "published"]

    member = await api.client.get(f"/api/v1/events/series/{sid}/stats", **api.as_user("a"))
    assert member.status_code == 403
    ics = Calendar.from_ical((await api.client.get(f"/api/v1/events/series/{sid}.ics")).content)
    assert [str(v["status"]) for v in ics.walk("VEVENT")] == ["CONFIRMED", "CONFIRMED", "CANCELLED", "CONFIRMED"]

    got = await api.events(until=lambda es: sum(e.type == "EventPublished" for e in es) >= 4)
    assert {e.data["series_id"] for e in got if e.type == "EventPublished"} == {sid}


async def test_stats_before_the_end_have_no_no_show_rate(api):
    event = await api.open_event(capacity=10)
    await api.register(event["id"], "a")
    stats = (await api.client.get(f"/api/v1/events/{event['id']}/stats", **api.op)).json()
    assert stats["attendance_rate"] == 0.0 and stats["no_show_rate"] is None and stats["fill_rate"] == 0.1


@pytest.mark.parametrize("patch", [{"occurrences": 0}, {"occurrences": 53}, {"duration_minutes": 1},
                                   {"first_starts_at": "2030-01-01T10:00:00"}, {"kind": "party"},
                                   {"first_starts_at": "9999-12-20T10:00:00Z"}])  # was a 500
async def test_bad_series_writes_nothing(api, db, patch):
    body = {"title": "S", "first_starts_at": "2030-01-01T10:00:00Z", "duration_minutes": 60, "occurrences": 3,
            **patch}
    r = await api.client.post("/api/v1/events/series", json=body, **api.op)
    assert r.status_code == 422
    assert await db.series.count_documents({}) == 0 and await db.events.count_documents({}) == 0


async def test_series_of_meetups_needs_a_venue(api, db):
    body = {"title": "S", "kind": "meetup", "city": "Paris", "online": False,
            "first_starts_at": "2030-01-01T10:00:00Z", "duration_minutes": 60, "occurrences": 3}
    r = await api.client.post("/api/v1/events/series", json=body, **api.op)
    assert r.status_code == 422 and "venue" in r.text
    assert await db.series.count_documents({}) == 0 and await db.events.count_documents({}) == 0
    assert (await api.client.get("/api/v1/events/series/nope.ics")).status_code == 404

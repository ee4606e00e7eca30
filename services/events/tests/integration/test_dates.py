"""Every date the API accepts is between 2000 and 2200 (agora_common.types): a clear 422 naming the range, never a
500; dates at the edge of the range still make valid calendars."""

import pytest
from icalendar import Calendar

pytestmark = pytest.mark.servers("kafka", "mongo")

FAR = "9999-12-31T00:00:00Z"
RANGE = "between 2000-01-01 and 2200-12-31"


def assert_out_of_range(r, field: str) -> None:
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input" and RANGE in r.text and field in r.text, r.text


@pytest.mark.parametrize("extra, field", [
    ({"agenda": [{"title": "Keynote", "starts_at": FAR}]}, "starts_at"),
    ({"kind": "competition", "submission_deadline": FAR}, "submission_deadline"),
])
async def test_far_dates_inside_an_event_are_refused(api, db, extra, field):
    body = {"kind": "training", "title": "T", "starts_at": "2030-01-01T10:00:00Z", **extra}
    assert_out_of_range(await api.client.post("/api/v1/events", json=body, **api.op), field)
    assert await db.events.count_documents({}) == 0


async def test_an_edit_to_a_far_date_is_refused_and_changes_nothing(api):
    event = await api.create_event()
    url = f"/api/v1/events/{event['id']}"
    for patch in ({"starts_at": FAR}, {"ends_at": FAR}, {"submission_deadline": "1999-12-31T23:59:59Z"}):
        r = await api.client.patch(url, json=patch, **api.op)
        assert r.status_code == 422 and RANGE in r.text, r.text
    after = (await api.client.get(url, **api.op)).json()
    assert after["starts_at"] == event["starts_at"] and after["version"] == event["version"]


@pytest.mark.parametrize("params, field", [
    ({"starts_before": FAR}, "starts_before"),
    ({"starts_after": "1970-01-01T00:00:00Z"}, "starts_after"),
])
async def test_far_date_filters_are_a_422(api, params, field):
    assert_out_of_range(await api.client.get("/api/v1/events", params=params), field)


async def test_a_series_whose_last_occurrence_is_past_the_range_is_refused(api, db):
    body = {"title": "S", "first_starts_at": "2200-12-01T10:00:00Z", "duration_minutes": 60, "occurrences": 10}
    r = await api.client.post("/api/v1/events/series", json=body, **api.op)
    assert r.status_code == 422 and "after 2200-12-31" in r.text, r.text
    assert await db.series.count_documents({}) == 0 and await db.events.count_documents({}) == 0


async def test_events_at_the_edge_of_the_range_have_calendars(api):
    event = await api.create_event(starts_at="2200-12-31T23:30:00Z")  # ends (by default) in 2201
    await api.act(event["id"], "publish")
    r = await api.client.get(f"/api/v1/events/{event['id']}.ics")
    assert r.status_code == 200, r.text
    [vevent] = Calendar.from_ical(r.content).walk("VEVENT")
    assert vevent.decoded("dtstart").year == 2200 and vevent.decoded("dtend").year == 2201

    body = {"title": "Edge weekly", "first_starts_at": "2200-12-10T10:00:00Z", "duration_minutes": 60,
            "occurrences": 4, "interval_weeks": 1}
    r = await api.client.post("/api/v1/events/series", json=body, **api.op)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert (await api.client.post(f"/api/v1/events/series/{sid}/publish", **api.op)).status_code == 200
    r = await api.client.get(f"/api/v1/events/series/{sid}.ics")
    assert r.status_code == 200 and len(Calendar.from_ical(r.content).walk("VEVENT")) == 4

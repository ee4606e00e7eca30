"""The lifecycle state machine through the API, events on the real broker, bad input with nothing written."""

import pytest

pytestmark = pytest.mark.servers("kafka", "mongo")


async def test_full_lifecycle_publishes_events_with_increasing_versions(api):
    event = await api.create_event(capacity=10)
    assert event["status"] == "draft"
    assert event["allowed_actions"] == ["publish", "cancel"]
    for action, status in [("publish", "published"), ("open-registration", "registration_open"),
                           ("close-registration", "registration_closed"), ("open-registration", "registration_open"),
                           ("start", "live"), ("end", "ended")]:
        assert (await api.act(event["id"], action))["status"] == status

    types = ["EventPublished", "RegistrationOpened", "RegistrationClosed", "RegistrationOpened", "EventStarted",
             "EventEnded"]
    got = await api.events(until=lambda es: len(es) >= len(types))
    assert [e.type for e in got] == types
    assert [e.version for e in got] == [1, 2, 3, 4, 5, 6]
    assert {e.subject for e in got} == {event["id"]}
    for e in got:  # what the points service needs, without calling back
        assert e.data["kind"] == "meetup" and e.data["sig_id"] == "sig-cloud" and e.data["tags"] == ["k8s"]
        assert e.payload()  # valid against the shared contract
    assert got[0].data["organizer_id"] == "op-1" and got[0].data["capacity"] == 10


@pytest.mark.parametrize("setup, action", [
    ([], "start"), ([], "open-registration"), ([], "end"),
    (["publish"], "publish"), (["publish", "start"], "open-registration"),
    (["publish", "start", "end"], "cancel"), (["cancel"], "publish"),
])
async def test_illegal_transitions_are_409_with_the_allowed_actions(api, db, setup, action):
    event = await api.create_event()
    if setup:
        await api.act(event["id"], *setup)
    before = await db.events.find_one({"_id": event["id"]})
    r = await api.client.post(f"/api/v1/events/{event['id']}/{action}", **api.op)
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "illegal_transition"
    assert f"cannot {action}" in error["message"]
    assert error["details"]["status"] == before["status"]
    assert await db.events.find_one({"_id": event["id"]}) == before  # nothing changed


async def test_drafts_are_private_and_members_cannot_manage(api):
    event = await api.create_event()
    assert (await api.client.get(f"/api/v1/events/{event['id']}")).status_code == 404
    assert (await api.client.get(f"/api/v1/events/{event['id']}", **api.op)).status_code == 200
    r = await api.client.post("/api/v1/events", json={"kind": "training", "title": "x",
                                                      "starts_at": "2030-01-01T10:00:00Z"}, **api.as_user("m1"))
    assert r.status_code == 403
    await api.act(event["id"], "publish")
    r = await api.client.post(f"/api/v1/events/{event['id']}/open-registration", **api.as_user("m1"))
    assert r.status_code == 403
    listed = (await api.client.get("/api/v1/events")).json()["items"]
    assert [e["id"] for e in listed] == [event["id"]]


@pytest.mark.parametrize("body, fragment", [
    ({"kind": "meetup", "title": "No venue", "city": "Berlin", "starts_at": "2030-01-01T10:00:00Z"}, "venue"),
    ({"kind": "qa_session", "title": "Q&A", "starts_at": "2030-01-01T10:00:00Z"}, "topic"),
    ({"kind": "peer_exchange", "title": "PX", "starts_at": "2030-01-01T10:00:00Z"}, "industry"),
    ({"kind": "webinar", "title": "?", "starts_at": "2030-01-01T10:00:00Z"}, "kind"),
    ({"kind": "training", "title": "T", "starts_at": "2030-01-01T10:00:00"}, "starts_at"),
    ({"kind": "training", "title": "T", "starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T09:00:00Z"},
     "ends_at"),
    ({"kind": "training", "title": "T", "starts_at": "2030-01-01T10:00:00Z", "capacity": 0}, "capacity"),
    ({"kind": "training", "title": "T", "starts_at": "2030-01-01T10:00:00Z", "timezone": "Mars/Olympus"},
     "timezone"),
    ({"kind": "training", "title": "T", "starts_at": "2030-01-01T10:00:00Z", "surprise": 1}, "surprise"),
    # far dates: a published one made its .ics answer 500 (OverflowError)
    ({"kind": "training", "title": "T", "starts_at": "9999-12-31T00:00:00Z"}, "between 2000-01-01 and 2200-12-31"),
    ({"kind": "training", "title": "T", "starts_at": "1970-01-01T00:00:00Z"}, "starts_at"),
    ({"kind": "training", "title": "T", "starts_at": "2030-01-01T10:00:00Z", "ends_at": "9999-01-01T00:00:00Z"},
     "ends_at"),
])
async def test_bad_event_input_is_a_clear_4xx_and_writes_nothing(api, db, body, fragment):
    r = await api.client.post("/api/v1/events", json=body, **api.op)
    assert r.status_code == 422, r.text
    assert fragment in r.text
    assert await db.events.count_documents({}) == 0


async def test_edit_and_cancel_publish_events_and_ics_follows(api):
    event = await api.open_event(capacity=5, description="Bring a laptop")
    r = await api.client.patch(f"/api/v1/events/{event['id']}", json={"title": "K8s meetup, autumn"}, **api.op)
    assert r.status_code == 200 and r.json()["title"] == "K8s meetup, autumn"
    r = await api.client.get(f"/api/v1/events/{event['id']}.ics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    assert b"SUMMARY:K8s meetup\\, autumn" in r.content and b"LOCATION:c-base\\, Berlin" in r.content
    r = await api.client.post(f"/api/v1/events/{event['id']}/cancel", json={"reason": "venue flooded"}, **api.op)
    assert r.json()["status"] == "cancelled"
    ics = (await api.client.get(f"/api/v1/events/{event['id']}.ics")).content
    assert b"STATUS:CANCELLED" in ics
    r = await api.client.patch(f"/api/v1/events/{event['id']}", json={"title": "again"}, **api.op)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_editable"
    got = await api.events(until=lambda es: len(es) >= 4)
    assert [e.type for e in got] == ["EventPublished", "RegistrationOpened", "EventUpdated", "EventCancelled"]
    assert got[-1].data["reason"] == "venue flooded"


async def test_speakers_are_invited_then_confirm_themselves(api):
    event = await api.create_event()
    eid = event["id"]
    r = await api.client.post(f"/api/v1/events/{eid}/speakers", json={"user_id": "sp1", "talk_title": "eBPF"},
                              **api.op)
    assert r.status_code == 201 and r.json()["speakers"][0]["confirmed"] is False
    await api.act(eid, "publish")
    assert (await api.client.post(f"/api/v1/events/{eid}/speakers/sp1/confirm",
                                  **api.as_user("intruder"))).status_code == 403
    r = await api.client.post(f"/api/v1/events/{eid}/speakers/sp1/confirm", **api.as_user("sp1"))
    assert r.status_code == 200 and r.json()["speakers"][0]["confirmed"] is True
    again = await api.client.post(f"/api/v1/events/{eid}/speakers/sp1/confirm", **api.as_user("sp1"))
    assert again.status_code == 409
    got = await api.events(until=lambda es: len(es) >= 2)
    assert got[1].type == "SpeakerConfirmed" and got[1].data["user_id"] == "sp1"
    assert got[1].data["talk_title"] == "eBPF" and got[1].version == 2


async def test_explicit_nulls_are_accepted_as_empty(api):
    """Found by schemathesis: null for a list field once made a 500 after the draft was already written."""
    r = await api.client.post("/api/v1/events", json={
        "kind": "qa_session", "title": "Ask the maintainers", "topic": "etcd", "starts_at": "2030-01-01T10:00:00Z",
        "agenda": None, "hosts": None, "tags": None, "judges": None, "online": None, "timezone": None}, **api.op)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["agenda"] == [] and body["hosts"] == [] and body["tags"] == [] and body["online"] is True
    r = await api.client.patch(f"/api/v1/events/{body['id']}", json={"tags": None, "online": None}, **api.op)
    assert r.status_code == 200 and r.json()["tags"] == []
    r = await api.client.patch(f"/api/v1/events/{body['id']}", json={"title": None}, **api.op)
    assert r.status_code == 422


async def test_the_event_list_pages_by_start_time_with_cursors(api):
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC) + timedelta(days=30)
    ids = []
    for i in range(5):  # created out of start order
        created = await api.create_event(title=f"Meetup {i}", starts_at=(start + timedelta(days=(i * 3) % 5)).isoformat())
        await api.act(created["id"], "publish")
        ids.append(created["id"])
    seen, cursor, pages = [], None, 0
    while True:
        r = await api.client.get("/api/v1/events", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200
        seen += r.json()["items"]
        cursor, pages = r.json()["next_cursor"], pages + 1
        if cursor is None:
            break
    assert pages == 3 and sorted(e["id"] for e in seen) == sorted(ids)
    assert [e["starts_at"] for e in seen] == sorted(e["starts_at"] for e in seen)
    for bad in ("garbage", (await api.client.get("/api/v1/events/series", params={"limit": 1})).json()["next_cursor"]
                or "e30"):
        r = await api.client.get("/api/v1/events", params={"cursor": bad})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cursor"


async def test_operators_filter_events_by_industry_city_format_and_date_range(api):
    from datetime import UTC, datetime, timedelta

    soon = datetime.now(UTC) + timedelta(days=10)
    made = {
        "bank": await api.create_event(kind="peer_exchange", title="Banking peers", industry="banking", city=None,
                                       venue=None, online=True, starts_at=soon.isoformat()),
        "shop": await api.create_event(kind="peer_exchange", title="Retail peers", industry="retail", city=None,
                                       venue=None, online=True, starts_at=(soon + timedelta(days=1)).isoformat()),
        "berlin": await api.create_event(city="Berlin", starts_at=(soon + timedelta(days=2)).isoformat()),
        "shanghai": await api.create_event(city="Shanghai", starts_at=(soon + timedelta(days=20)).isoformat()),
    }
    for event in made.values():
        await api.act(event["id"], "publish")
    ids = {event["id"]: name for name, event in made.items()}

    async def listed(**params) -> list[str]:
        r = await api.client.get("/api/v1/events", params={"limit": 50, **params})
        assert r.status_code == 200, r.text
        return sorted(ids[e["id"]] for e in r.json()["items"] if e["id"] in ids)

    assert await listed(industry="banking") == ["bank"]
    assert await listed(kind="peer_exchange") == ["bank", "shop"]
    assert await listed(city="berlin") == ["berlin"]  # any case
    assert await listed(online="false") == ["berlin", "shanghai"]
    assert await listed(online="true", industry="retail") == ["shop"]
    assert await listed(starts_after=soon.isoformat(), starts_before=(soon + timedelta(days=5)).isoformat()) == [
        "bank", "berlin", "shop"]
    backwards = await api.client.get("/api/v1/events", params={"starts_after": soon.isoformat(),
                                                               "starts_before": soon.isoformat()})
    assert backwards.status_code == 422 and backwards.json()["error"]["code"] == "invalid_range"
    unknown = await api.client.get("/api/v1/events", params={"industri": "banking"})  # a typo filters nothing
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_query_parameter"
    assert unknown.json()["error"]["details"]["unknown"] == ["industri"]


async def test_creating_an_event_twice_with_one_idempotency_key_makes_one_draft(api):
    body = {"kind": "meetup", "title": "Retry-safe meetup", "city": "Berlin", "venue": "c-base",
            "starts_at": "2031-05-05T18:00:00Z"}
    headers = {**api.op["headers"], "Idempotency-Key": "create-7"}
    first = await api.client.post("/api/v1/events", json=body, headers=headers)
    again = await api.client.post("/api/v1/events", json=body, headers=headers)
    assert first.status_code == again.status_code == 201 and again.json()["id"] == first.json()["id"]
    changed = await api.client.post("/api/v1/events", json={**body, "title": "Another"}, headers=headers)
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "idempotency_key_reused"

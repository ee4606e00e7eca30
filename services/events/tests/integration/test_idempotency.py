"""Idempotency-Key on every creating POST: a retry (say after a gateway timeout), even a concurrent one, answers
with what the first request created, marked `Idempotent-Replayed: true`; the same key with another body is 409."""

import asyncio
from datetime import datetime, timedelta

import pytest

from .conftest import Api
from .test_exams_certificates import live_training

pytestmark = pytest.mark.servers("kafka", "mongo")

SERIES = {"title": "Retry-safe weekly", "first_starts_at": "2031-03-04T18:00:00Z", "duration_minutes": 60,
          "occurrences": 3}


def keyed(api: Api, user: str, key: str, *roles: str) -> dict:
    return {"headers": {**api.headers(user, *roles), "Idempotency-Key": key}}


def assert_replayed(first, again) -> None:
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers


def assert_key_reused(r) -> None:
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_reused", r.text


async def test_a_retried_series_makes_one_series_and_one_set_of_drafts(api, db):
    op = keyed(api, "op-1", "series-1", "operator")
    first = await api.client.post("/api/v1/events/series", json=SERIES, **op)
    again = await api.client.post("/api/v1/events/series", json=SERIES, **op)
    assert_replayed(first, again)
    assert again.json()["event_ids"] == first.json()["event_ids"]
    assert_key_reused(await api.client.post("/api/v1/events/series", json={**SERIES, "occurrences": 4}, **op))
    assert await db.series.count_documents({}) == 1 and await db.events.count_documents({}) == 3
    # concurrent duplicates: one series
    others = keyed(api, "op-2", "series-2", "operator")
    answers = await asyncio.gather(*[api.client.post("/api/v1/events/series", json=SERIES, **others)
                                     for _ in range(4)])
    assert {r.status_code for r in answers} == {201} and len({r.json()["id"] for r in answers}) == 1
    assert await db.series.count_documents({}) == 2 and await db.events.count_documents({}) == 6


async def test_a_retried_submission_answers_the_first_entry(api, db):
    event = await api.open_event(kind="competition", title="Retry hackathon", city=None, venue=None)
    eid = event["id"]
    assert (await api.register(eid, "ann")).status_code == 201
    url = f"/api/v1/events/{eid}/submissions"
    entry = {"title": "ann's operator", "url": "https://example.org/ann"}
    first = await api.client.post(url, json=entry, **keyed(api, "ann", "sub-1"))
    again = await api.client.post(url, json=entry, **keyed(api, "ann", "sub-1"))
    assert_replayed(first, again)
    assert again.json()["title"] == "ann's operator" and again.json()["url"] == "https://example.org/ann"
    assert_key_reused(await api.client.post(url, json={"title": "another"}, **keyed(api, "ann", "sub-1")))
    plain = await api.client.post(url, json=entry, **api.as_user("ann"))  # without a key: the rule
    assert plain.status_code == 409 and plain.json()["error"]["code"] == "already_submitted"
    assert await db.submissions.count_documents({"event_id": eid}) == 1
    got = await api.events(until=lambda es: any(e.type == "SubmissionReceived" for e in es))
    assert sum(e.type == "SubmissionReceived" for e in got) == 1


async def test_a_retried_exam_attempt_is_the_same_attempt_and_uses_up_one(api, db):
    eid = await live_training(api, "alice")
    url = f"/api/v1/events/{eid}/exam/attempts"
    first = await api.client.post(url, **keyed(api, "alice", "attempt-1"))
    again = await api.client.post(url, **keyed(api, "alice", "attempt-1"))
    assert_replayed(first, again)
    assert again.json()["questions"] == first.json()["questions"]  # same questions, same order
    deadlines = [datetime.fromisoformat(r.json()["deadline"]) for r in (first, again)]
    assert abs(deadlines[1] - deadlines[0]) < timedelta(milliseconds=1)  # as stored (MongoDB keeps milliseconds)
    plain = await api.client.post(url, **api.as_user("alice"))  # without a key: the rule
    assert plain.status_code == 409 and plain.json()["error"]["code"] == "attempt_in_progress"
    assert await db.attempts.count_documents({"event_id": eid, "user_id": "alice"}) == 1


async def test_a_retried_speaker_invitation_answers_the_event(api):
    event = await api.create_event()
    url = f"/api/v1/events/{event['id']}/speakers"
    speaker = {"user_id": "sam", "name": "Sam", "talk_title": "Operators"}
    first = await api.client.post(url, json=speaker, **keyed(api, "op-1", "speaker-1", "operator"))
    again = await api.client.post(url, json=speaker, **keyed(api, "op-1", "speaker-1", "operator"))
    assert_replayed(first, again)
    assert [s["user_id"] for s in again.json()["speakers"]] == ["sam"]
    assert_key_reused(await api.client.post(url, json={**speaker, "name": "Samuel"},
                                            **keyed(api, "op-1", "speaker-1", "operator")))
    plain = await api.client.post(url, json=speaker, **api.op)
    assert plain.status_code == 409 and plain.json()["error"]["code"] == "already_speaker"


async def test_replayed_events_and_registrations_say_so(api):
    body = {"kind": "meetup", "title": "Header meetup", "city": "Berlin", "venue": "c-base",
            "starts_at": "2031-05-05T18:00:00Z"}
    op = keyed(api, "op-1", "create-h", "operator")
    first = await api.client.post("/api/v1/events", json=body, **op)
    assert_replayed(first, await api.client.post("/api/v1/events", json=body, **op))
    event = await api.act(first.json()["id"], "publish", "open-registration")
    url = f"/api/v1/events/{event['id']}/registrations"
    first = await api.client.post(url, **keyed(api, "ann", "reg-h"))
    assert_replayed(first, await api.client.post(url, **keyed(api, "ann", "reg-h")))

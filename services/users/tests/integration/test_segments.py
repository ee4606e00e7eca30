"""Member segments computed from events on the content, events and users topics."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from agora_common.events import Envelope
from agora_common.events import community as ev
from agora_common.events import content as ct
from agora_common.kafka import EventPublisher
from agora_testing.waiting import eventually

pytestmark = pytest.mark.servers("kafka", "mongo")


def ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def question(author: str, days: float, post_id: str) -> Envelope:
    event = ct.QuestionAsked(post_id=post_id, author_id=author, tags=["k8s"], title="How?", body="...",
                             created_at=ago(days))
    return Envelope.wrap(event, subject=post_id, version=1, actor=author, time=ago(days))


@pytest.mark.consume
async def test_segments_from_events(client, signup, operator_headers, settings, app):
    core = (await signup("core@example.com", "Core Carla"))["user"]["id"]
    contributor = (await signup("contrib@example.com", "=Contributor Chen"))["user"]["id"]
    lapsed = (await signup("lapsed@example.com", "Lapsed Lee"))["user"]["id"]
    quiet = (await signup("quiet@example.com", "Quiet Quinn"))["user"]["id"]

    # core: 5 questions in the last 90 days, the latest 2 days ago (one event delivered twice)
    questions = [question(core, d, f"q{i}") for i, d in enumerate((2, 10, 20, 50, 80))]
    accepted = Envelope.wrap(ct.AnswerAccepted(post_id="a1", author_id=contributor, asker_id=core, question_id="q1"),
                             subject="a1", version=2, actor=core, time=ago(60))
    accepted2 = Envelope.wrap(ct.AnswerAccepted(post_id="a2", author_id=lapsed, asker_id=core, question_id="q2"),
                              subject="a2", version=2, actor=core, time=ago(70))
    revoked = Envelope.wrap(ct.AcceptanceRevoked(post_id="a2", author_id=lapsed, asker_id=core),
                            subject="a2", version=3, actor=core, time=ago(69))
    talk = Envelope.wrap(ev.SpeakerConfirmed(event_id="e1", kind="meetup", user_id=contributor),
                         subject="e1", version=3, time=ago(45))
    vote = Envelope.wrap(ct.PostVoted(post_id="q0", post_type="question", author_id=core, voter_id=lapsed, value=1,
                                      score=1), subject="q0", version=2, actor=lapsed, time=ago(40))
    ghost = question("ghost-user", 1, "q9")
    content = [*questions, questions[0], accepted, accepted2, revoked, vote, ghost]

    publisher = EventPublisher(settings.kafka_bootstrap)
    try:
        await publisher.publish_many(f"{settings.topic_prefix}content", content)
        await publisher.publish(f"{settings.topic_prefix}events", talk)
    finally:
        await publisher.stop()

    ids = {e.id for e in content} | {talk.id}

    async def all_processed():
        assert await app.state.store.db.processed_events.count_documents({"_id": {"$in": list(ids)}}) == len(ids)

    await eventually(all_processed, timeout=40)

    async def segment(name: str) -> dict:
        r = await client.get(f"/api/v1/users/segments/{name}", headers=operator_headers)
        assert r.status_code == 200, r.text
        return r.json()

    active = await segment("active")
    assert [m["user_id"] for m in active["members"]] == [core]
    assert active["members"][0]["recent_contributions"] == 5  # the duplicate counted once
    assert [m["user_id"] for m in (await segment("core"))["members"]] == [core]
    contributors = await segment("contributor")
    assert [m["user_id"] for m in contributors["members"]] == [contributor]
    assert contributors["members"][0]["accepted_answers"] == 1 and contributors["members"][0]["talks"] == 1
    ordinary = await segment("ordinary")
    assert sorted(m["user_id"] for m in ordinary["members"]) == sorted([lapsed, quiet])
    assert ordinary["count"] == 2 and ordinary["definition"]

    r = await client.get("/api/v1/users/segments/contributor", params={"format": "csv"}, headers=operator_headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["user_id"] for row in rows] == [contributor]
    assert rows[0]["display_name"] == "'=Contributor Chen"  # no formula injection into spreadsheets
    assert "email" not in rows[0] and "@" not in r.text


async def test_segments_are_for_operators_only(client, signup, moderator_headers, operator_headers):
    member = await signup("m@example.com")
    assert (await client.get("/api/v1/users/segments/active", headers=member["headers"])).status_code == 403
    assert (await client.get("/api/v1/users/segments/active", headers=moderator_headers)).status_code == 403
    assert (await client.get("/api/v1/users/segments/active")).status_code == 401
    r = await client.get("/api/v1/users/segments/vip", headers=operator_headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_segment"
    r = await client.get("/api/v1/users/segments/active", params={"format": "xml"}, headers=operator_headers)
    assert r.status_code == 422
    r = await client.get("/api/v1/users/segments", headers=operator_headers)
    assert set(r.json()) == {"ordinary", "active", "core", "contributor"}


async def test_replayed_batches_change_nothing(app, client, signup):
    """The consumer's batch handler, called directly: a replay of a whole batch, or of part of it mixed with new
    events, applies each event exactly once."""
    from agora_users.service import activity

    store = app.state.store
    author = (await signup("a@example.com", "Author"))["user"]["id"]
    batch = [question(author, d, f"q{d}") for d in (1, 2, 3)]
    assert await activity.handle_events(store=store, envelopes=batch) == 3
    assert await activity.handle_events(store=store, envelopes=batch) == 0
    later = question(author, 0.5, "q-late")
    assert await activity.handle_events(store=store, envelopes=[batch[1], later, later]) == 1
    days = await store.db.activity_days.find({"user_id": author}).to_list()
    assert sum(d["contributions"] for d in days) == 4 and sum(d["actions"] for d in days) == 4
    assert await store.db.processed_events.count_documents({}) == 4

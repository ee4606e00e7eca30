"""Questions asked in an online Q&A session (learned from the events topic): allowed while it is published or live,
listed with it, refused once it has ended; the thread stays afterwards as normal content."""

from datetime import UTC, datetime, timedelta

import pytest
from agora_common.events.community import EventEnded, EventPublished, EventStarted
from agora_testing.events import publish_versioned, read_events
from agora_testing.waiting import eventually

pytestmark = pytest.mark.servers("kafka", "mongo")

API = "/api/v1/content"


@pytest.fixture
def settings(agora_env):
    from agora_content.config import Settings

    return Settings(**agora_env, outbox_poll_interval=0.1, outbox_retry_delay=0.3, consume_users=False,
                    consume_events=True)



async def test_questions_belong_to_an_online_qa_session_while_it_takes_them(client, auth, settings, topics, app):
    starts = datetime.now(UTC) + timedelta(hours=1)
    ref = {"event_id": "ama-1", "kind": "qa_session", "tags": ["kubesphere"]}
    ask = {"title": "Will KubeSphere 4 keep the installer?", "body": "Asking ahead of the AMA.", "tags": ["kubesphere"],
           "event_id": "ama-1"}
    unknown = await client.post(f"{API}/questions", headers=auth("alice"), json=ask)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "qa_event_not_found"

    sessions = app.state.store.db.qa_events

    async def learned(status):  # the events consumer has applied the session's new state
        async def check():
            assert (await sessions.find_one({"_id": "ama-1"}) or {}).get("status") == status

        await eventually(check, timeout=30)

    async def asked(user):
        r = await client.post(f"{API}/questions", headers=auth(user), json=ask)
        assert r.status_code == 201, r.text
        return r.json()

    await publish_versioned(settings.kafka, topics.events, (1, EventPublished(**ref, title="KubeSphere AMA", starts_at=starts,
                                                       organizer_id="op")))
    await learned("published")
    before = await asked("alice")  # sent ahead of the session
    assert before["event_id"] == "ama-1"
    await publish_versioned(settings.kafka, topics.events, (2, EventStarted(**ref)))
    await learned("live")
    during = await asked("erin")  # and during it
    live_answer = await client.post(f"{API}/questions/{during['id']}/answers", headers=auth("dan"),
                                    json={"body": "Answered live."})
    assert live_answer.status_code == 201
    plain = await client.post(f"{API}/questions", headers=auth("bob"),
                              json={**ask, "title": "Unrelated question here", "event_id": None})
    assert plain.status_code == 201 and plain.json()["event_id"] is None
    listed = (await client.get(f"{API}/questions", params={"event_id": "ama-1"})).json()["items"]
    assert len(listed) == 2 and all(q["event_id"] == "ama-1" for q in listed)

    await publish_versioned(settings.kafka, topics.events, (3, EventEnded(**ref)))
    await learned("ended")
    late = await client.post(f"{API}/questions", headers=auth("carol"), json={**ask, "title": "Too late to ask"})
    assert late.status_code == 409 and late.json()["error"]["code"] == "qa_event_closed", late.text
    # the thread stays: answered after the session like any question; the event says where it came from
    answer = await client.post(f"{API}/questions/{before['id']}/answers", headers=auth("dan"), json={"body": "Yes."})
    assert answer.status_code == 201
    events = await read_events(settings.kafka_bootstrap, topics.content,
                               until=lambda es: sum(e.type == "QuestionAsked" for e in es) >= 3)
    asked_events = [e for e in events if e.type == "QuestionAsked"]
    assert sorted(str(e.data.get("event_id")) for e in asked_events) == ["None", "ama-1", "ama-1"]
    # answers say whether they came while the session was live (points' answered_during_event rule reads it)
    events = await read_events(settings.kafka_bootstrap, topics.content,
                               until=lambda es: sum(e.type == "AnswerPosted" for e in es) >= 2)
    answered = {e.data["post_id"]: e.data for e in events if e.type == "AnswerPosted"}
    assert answered[live_answer.json()["id"]]["during_event"] is True
    assert answered[live_answer.json()["id"]]["event_id"] == "ama-1"
    assert answered[answer.json()["id"]]["during_event"] is False  # after the session ended
    assert answered[answer.json()["id"]]["event_id"] == "ama-1"

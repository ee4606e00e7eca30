"""Suspended members cannot post; deleted members' content stays, anonymised (from the users topic)."""

from datetime import UTC, datetime, timedelta

import pytest
from agora_common.events.users import UserDeleted, UserReinstated, UserSuspended
from agora_testing.events import publish_versioned, read_events
from agora_testing.waiting import eventually

pytestmark = pytest.mark.servers("kafka", "mongo")

API = "/api/v1/content"
QUESTION = {"title": "A question title", "body": "body", "tags": ["a"]}


@pytest.fixture
def settings(agora_env):
    from agora_content.config import Settings

    return Settings(**agora_env, outbox_poll_interval=0.1, outbox_retry_delay=0.3, consume_users=True)



async def test_suspension_reinstatement_and_deletion(client, auth, ask, answer, settings, topics, app):
    q = await ask("alice")
    bobs = await answer(q["id"], "bob")
    until = datetime.now(UTC) + timedelta(days=3)
    await publish_versioned(settings.kafka, topics.users, (2, UserSuspended(user_id="alice", moderator_id="mod", reason="spam", until=until)))

    async def refused():
        r = await client.post(f"{API}/questions", headers=auth("alice"), json=QUESTION)
        assert r.status_code == 403 and r.json()["error"]["code"] == "account_suspended"
        return r

    await eventually(refused, timeout=40)
    r = await client.put(f"{API}/posts/{bobs['id']}/vote", headers=auth("alice"), json={"value": 1})
    assert r.status_code == 403
    assert (await client.post(f"{API}/questions", headers=auth("bob"), json=QUESTION)).status_code == 201

    # a replayed, older event does not undo a newer one
    await publish_versioned(settings.kafka, topics.users, (3, UserReinstated(user_id="alice", moderator_id="mod")),
                  (2, UserSuspended(user_id="alice", moderator_id="mod", reason="spam", until=until)))

    async def allowed():
        assert (await client.post(f"{API}/questions", headers=auth("alice"), json=QUESTION)).status_code == 201

    await eventually(allowed, timeout=20)

    await publish_versioned(settings.kafka, topics.users, (4, UserDeleted(user_id="bob")))

    async def anonymised():
        got = (await client.get(f"{API}/answers/{bobs['id']}")).json()
        assert got["author_id"] is None and got["author_deleted"] is True

    await eventually(anonymised, timeout=20)
    assert (await client.post(f"{API}/questions", headers=auth("bob"), json=QUESTION)).json()["error"][
        "code"] == "account_deleted"
    # later events about the anonymised post no longer name the author
    assert (await client.put(f"{API}/posts/{bobs['id']}/vote", headers=auth("carol"), json={"value": 1})
            ).status_code == 200
    events = await read_events(settings.kafka_bootstrap, topics.content,
                               until=lambda es: any(e.type == "PostVoted" for e in es))
    voted = next(e for e in events if e.type == "PostVoted")
    assert voted.data["author_id"] is None and voted.data["voter_id"] == "carol"

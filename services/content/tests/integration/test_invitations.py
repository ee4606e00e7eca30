"""Operators invite members to answer a question, on the real servers: who may be invited is decided on content's
members projection (fed from the users topic), the question lists the invitations and whether they were answered,
and `AnswerInvited` is published for the users service (the invitee's inbox)."""

from datetime import UTC, datetime, timedelta

import pytest
from agora_common.events.users import UserDeleted, UserRegistered, UserSuspended
from agora_testing.events import publish_versioned, read_events
from agora_testing.waiting import eventually

pytestmark = pytest.mark.servers("kafka", "mongo")

API = "/api/v1/content"


@pytest.fixture
def settings(agora_env):
    from agora_content.config import Settings

    return Settings(**agora_env, outbox_poll_interval=0.1, outbox_retry_delay=0.3, consume_users=True,
                    consume_events=False)



async def test_an_operator_invites_members_to_answer(client, auth, app, ask, answer, settings, topics):
    now = datetime.now(UTC)
    await publish_versioned(settings.kafka, topics.users,
                        *[(1, UserRegistered(user_id=u, display_name=u.title(), registered_at=now))
                          for u in ("bob", "carol", "dave", "erin")],
                        (2, UserSuspended(user_id="carol", moderator_id="mod", reason="spam",
                                          until=now + timedelta(days=3))),
                        (2, UserDeleted(user_id="dave")))

    async def members_known():
        members = app.state.store.db["members"]
        assert await members.count_documents({"_id": {"$in": ["bob", "erin"]}, "display_name": {"$ne": None}}) == 2
        assert await members.count_documents({"_id": "carol", "suspended": True}) == 1
        assert await members.count_documents({"_id": "dave", "deleted": True}) == 1

    await eventually(members_known, timeout=40)

    q = await ask("alice", tags=["kubernetes"], title="Pods stuck in ContainerCreating")
    url = f"{API}/questions/{q['id']}/invitations"
    operator = {**auth("op", "member", "operator"), "Idempotency-Key": "invite-bob-1"}
    body = {"user_id": "bob", "note": "You know CSI drivers best: could you have a look?"}

    r = await client.post(url, headers=operator, json=body)
    assert r.status_code == 201, r.text
    invitation = r.json()
    assert {k: invitation[k] for k in ("question_id", "user_id", "display_name", "invited_by", "note", "answered")} \
        == {"question_id": q["id"], "user_id": "bob", "display_name": "Bob", "invited_by": "op",
            "note": body["note"], "answered": False}
    # a retry after a timeout: the same invitation, once
    again = await client.post(url, headers=operator, json=body)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == invitation["id"]

    async def refused(status, code, *, headers=None, url=url, **payload):
        r = await client.post(url, headers=headers or auth("op", "operator"), json=payload)
        assert r.status_code == status, r.text
        assert code is None or r.json()["error"]["code"] == code, r.text
        return r.json()

    await refused(403, None, headers=auth("bob"), user_id="erin")                       # operators only
    await refused(404, None, url=f"{API}/questions/nope/invitations", user_id="bob")     # unknown question
    await refused(422, "cannot_invite_asker", user_id="alice")
    suspended = await refused(409, "member_suspended", user_id="carol")
    assert suspended["error"]["details"]["until"] is not None
    await refused(409, "member_deleted", user_id="dave")
    await refused(404, "member_not_found", user_id="ghost")
    await refused(409, "already_invited", user_id="bob")
    await refused(422, None, user_id="bob", extra="field")
    assert await app.state.store.db["idempotency_keys"].count_documents({}) == 1

    # the question shows who was invited, in every read of it
    question = (await client.get(f"{API}/questions/{q['id']}")).json()
    assert [(i["user_id"], i["display_name"], i["answered"], i["answer_id"]) for i in question["invited"]] == [
        ("bob", "Bob", False, None)]
    listed = (await client.get(f"{API}/questions", params={"tag": "kubernetes"})).json()["items"]
    assert listed[0]["invited"] == question["invited"]

    # erin answers first, then gets invited: nothing to invite her to
    await answer(q["id"], "erin")
    await refused(409, "already_answered", user_id="erin")

    # bob answers: his invitation is answered
    bobs = await answer(q["id"], "bob")
    question = (await client.get(f"{API}/questions/{q['id']}")).json()
    assert [(i["user_id"], i["answered"], i["answer_id"]) for i in question["invited"]] == [
        ("bob", True, bobs["id"])]

    # one AnswerInvited, with what the invitee's inbox shows
    events = await read_events(settings.kafka_bootstrap, topics.content,
                               until=lambda es: any(e.type == "AnswerInvited" for e in es))
    invited = [e for e in events if e.type == "AnswerInvited"]
    assert len(invited) == 1
    assert invited[0].subject == q["id"] and invited[0].actor == "op"
    payload = invited[0].payload()
    assert (payload.invitation_id, payload.invitee_id, payload.invited_by, payload.title, payload.note,
            payload.post_id, payload.author_id, payload.tags) == (
        invitation["id"], "bob", "op", "Pods stuck in ContainerCreating", body["note"], q["id"], "alice",
        ["kubernetes"])

    # bob deletes his account: the invitation stays, without the link to him (like his answer)
    await publish_versioned(settings.kafka, topics.users, (5, UserDeleted(user_id="bob")))

    async def anonymised():
        question = (await client.get(f"{API}/questions/{q['id']}")).json()
        assert [(i["user_id"], i["display_name"], i["answered"]) for i in question["invited"]] == [(None, None, True)]

    await eventually(anonymised, timeout=40)


async def test_no_invitation_to_a_deleted_or_hidden_question(client, auth, app, ask, settings, topics):
    await publish_versioned(settings.kafka, topics.users,
                        (1, UserRegistered(user_id="bob", display_name="Bob", registered_at=datetime.now(UTC))))

    async def known():
        assert await app.state.store.db["members"].count_documents({"_id": "bob"}) == 1

    await eventually(known, timeout=40)
    gone = await ask("alice")
    assert (await client.delete(f"{API}/posts/{gone['id']}", headers=auth("alice"))).status_code == 200
    r = await client.post(f"{API}/questions/{gone['id']}/invitations", headers=auth("op", "operator"),
                          json={"user_id": "bob"})
    assert r.status_code == 410 and r.json()["error"]["code"] == "post_deleted", r.text

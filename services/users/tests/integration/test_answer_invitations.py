"""An operator's invitation to answer a question (the content service's AnswerInvited) becomes an item in the invited
member's inbox, once however often the event comes; nobody else sees it; unknown or deleted accounts get nothing."""

from datetime import UTC, datetime

import pytest
from agora_common.events import Envelope
from agora_common.events.content import AnswerInvited
from agora_common.kafka import EventPublisher
from agora_testing.waiting import eventually

pytestmark = [pytest.mark.servers("kafka", "mongo"), pytest.mark.consume]

U = "/api/v1/users"


def invited(invitee: str, invitation: str, *, note: str | None = "Could you help?") -> Envelope:
    return Envelope.wrap(AnswerInvited(
        post_id="q-1", author_id="alice", tags=["kubernetes"], invitation_id=invitation, invitee_id=invitee,
        invited_by="op-1", title="Pods stuck in ContainerCreating", note=note, invited_at=datetime.now(UTC)),
        subject="q-1", version=3, actor="op-1")


async def test_an_invitation_lands_in_the_invitees_inbox_once(client, signup, settings, app):
    ada = await signup("ada@example.com", "Ada")
    bob = await signup("bob@example.com", "Bob")
    uid = ada["user"]["id"]
    event = invited(uid, "inv-1")
    publisher = EventPublisher(settings.kafka_bootstrap)
    content = f"{settings.topic_prefix}content"
    try:
        await publisher.publish_many(content, [invited("ghost", "inv-0"), event, event])  # the same event twice

        async def delivered():
            r = await client.get(f"{U}/me/inbox", headers=ada["headers"])
            assert r.status_code == 200, r.text
            items = r.json()["items"]
            assert len(items) == 1, items
            return items[0]

        item = await eventually(delivered, timeout=40)
        assert {k: item[k] for k in ("kind", "question_id", "title", "body", "link", "sent_by", "read",
                                     "announcement_id", "group_id")} == {
            "kind": "answer_invitation", "question_id": "q-1", "title": "Pods stuck in ContainerCreating",
            "body": "Could you help?", "link": "/api/v1/content/questions/q-1", "sent_by": "op-1", "read": False,
            "announcement_id": None, "group_id": None}
        assert (await client.get(f"{U}/me/inbox/count", headers=ada["headers"])).json() == {"unread": 1}
        assert (await client.get(f"{U}/me/inbox", headers=bob["headers"])).json()["items"] == []
        assert (await client.post(f"{U}/me/inbox/{item['id']}/read", headers=bob["headers"])).status_code == 404
        r = await client.post(f"{U}/me/inbox/{item['id']}/read", headers=ada["headers"])
        assert r.status_code == 200 and r.json()["read"] is True and r.json()["kind"] == "answer_invitation"

        # replayed later (a consumer restart, a rebalance): still one item, still read
        await publisher.publish_many(content, [event, invited(uid, "inv-2", note=None)])

        async def second():
            items = (await client.get(f"{U}/me/inbox", headers=ada["headers"])).json()["items"]
            assert [(i["question_id"], i["read"]) for i in items] == [("q-1", False), ("q-1", True)]
            return items

        items = await eventually(second, timeout=30)
        assert items[0]["body"] == "An operator invited you to answer this question."
        assert await app.state.store.db.inbox.count_documents({}) == 2
        assert (await client.get(f"{U}/me/inbox/count", headers=ada["headers"])).json() == {"unread": 1}
    finally:
        await publisher.stop()

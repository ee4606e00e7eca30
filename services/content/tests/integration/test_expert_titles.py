"""Members the community marked as a tag's experts (honor titles with a scope, from the users topic) are shown as
such on the expert lists of that tag and of the SIGs covering it, apart from their titles for the whole community."""

from datetime import UTC, datetime

import pytest
from agora_common.events.users import HonorTitleGranted, HonorTitleRevoked, SigCreated, UserRegistered
from agora_testing.events import publish_versioned
from agora_testing.waiting import eventually

pytestmark = pytest.mark.servers("kafka", "mongo")

API = "/api/v1/content"


@pytest.fixture
def settings(agora_env):
    from agora_content.config import Settings

    return Settings(**agora_env, outbox_poll_interval=0.1, outbox_retry_delay=0.3, consume_users=True,
                    consume_events=False)



async def experts(client, params: dict) -> dict:
    r = await client.get(f"{API}/experts", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def rows(page: dict) -> list[tuple]:
    return [(e["user_id"], e["titles"], [(t["title"], t["scope"]) for t in e["expert_titles"]])
            for e in page["items"]]


async def test_scoped_titles_on_the_expert_lists(client, ask, answer, settings, topics):
    q = await ask("alice", tags=["kafka", "streaming"])
    await answer(q["id"], "bob")
    await answer(q["id"], "carol")
    now = datetime.now(UTC)
    await publish_versioned(settings.kafka, topics.users,
                        (1, SigCreated(sig_id="sig-s", name="Streaming", slug="streaming", tags=["kafka"],
                                       created_by="op")),
                        (1, UserRegistered(user_id="bob", display_name="Bob", registered_at=now)),
                        (2, HonorTitleGranted(user_id="bob", title="Expert", granted_by="op", scope="tag:kafka")),
                        (3, HonorTitleGranted(user_id="bob", title="Expert", granted_by="op", scope="tag:ceph")),
                        (4, HonorTitleGranted(user_id="bob", title="Expert", granted_by="op")),
                        (5, HonorTitleGranted(user_id="bob", title="Mentor", granted_by="op", scope="tag:streaming")))

    async def marked():
        assert rows(await experts(client, {"tag": "kafka"})) == [
            ("bob", ["Expert"], [("Expert", "tag:kafka")]), ("carol", [], [])]
        assert rows(await experts(client, {"tag": "streaming"})) == [
            ("bob", ["Expert"], [("Mentor", "tag:streaming")]), ("carol", [], [])]
        # a SIG's list: titles for the SIG's tags
        assert rows(await experts(client, {"sig": "sig-s"})) == [
            ("bob", ["Expert"], [("Expert", "tag:kafka")]), ("carol", [], [])]

    await eventually(marked, timeout=40)

    # revoking the scoped title leaves the unscoped one of the same name, and the reverse
    await publish_versioned(settings.kafka, topics.users,
                        (6, HonorTitleRevoked(user_id="bob", title="Expert", revoked_by="op", scope="tag:kafka")),
                        (7, HonorTitleRevoked(user_id="bob", title="Expert", revoked_by="op")),
                        (2, HonorTitleGranted(user_id="bob", title="Expert", granted_by="op", scope="tag:kafka")))

    async def revoked():  # (the late replay of version 2 changes nothing)
        assert rows(await experts(client, {"tag": "kafka"})) == [
            ("bob", [], []), ("carol", [], [])]

    await eventually(revoked, timeout=40)

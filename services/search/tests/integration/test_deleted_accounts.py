"""A deleted account's posts stay searchable without the link to it, also after late events and a reindex."""

import pytest
from agora_common.events import Envelope
from agora_common.events import content as ev
from agora_common.events.users import UserDeleted
from agora_common.kafka import EventPublisher
from agora_common.topics import Topics
from agora_testing.waiting import eventually
from elasticsearch import AsyncElasticsearch

pytestmark = pytest.mark.servers("kafka", "elasticsearch")


async def _source(settings, doc_id: str) -> dict:
    es = AsyncElasticsearch(settings.elasticsearch_url)
    try:
        return (await es.get(index=settings.alias, id=doc_id))["_source"]
    finally:
        await es.close()


async def test_deleted_author_is_dropped_everywhere(api, client, content, settings, operator_headers):
    await content.ask("q1", "Alice asks about storage", author="alice")
    await content.ask("q2", "Bob asks about kafka", author="bob")
    await content.answer("a1", "q2", "Alice answers about kafka", author="alice")
    await api.wait_ids(["q1"], author="alice")
    await api.wait_for(lambda r: r["hits"] and r["hits"][0]["answer_count"] == 1, q="bob")

    publisher = EventPublisher(settings.kafka_bootstrap)
    try:
        await publisher.publish(Topics(settings.topic_prefix).users,
                                Envelope.wrap(UserDeleted(user_id="alice"), subject="alice", version=7))
    finally:
        await publisher.stop()

    await api.wait_ids([], author="alice")
    result = await api.search(q="alice")
    assert sorted(api.ids(result)) == ["q1", "q2"]  # the content stays searchable
    assert {h["id"]: h["author_id"] for h in result["hits"]} == {"q1": None, "q2": "bob"}

    async def answer_anonymised():
        source = await _source(settings, "q2")
        assert source["answer_author_ids"] == [] and source["state"]["answers"]["a1"]["author_id"] is None

    await eventually(answer_anonymised)

    # a late event still naming her (sent before the content service anonymised) does not bring her back
    await content.send(ev.QuestionEdited(post_id="q1", author_id="alice", title="Alice asks about storage again",
                                         body="", editor_id="alice", revision=2))
    await api.wait_for(lambda r: r["total"] == 1, q="again")
    assert (await api.search(q="again"))["hits"][0]["author_id"] is None

    # nor does a rebuild from the event log, which replays her old events
    assert (await client.post("/api/v1/search/admin/reindex", headers=operator_headers)).status_code == 202

    async def finished():
        status = (await client.get("/api/v1/search/admin/reindex", headers=operator_headers)).json()
        assert status["state"] == "succeeded", status

    await eventually(finished, timeout=60)
    assert api.ids(await api.search(author="alice")) == []
    assert sorted(api.ids(await api.search(q="alice"))) == ["q1", "q2"]
    assert (await _source(settings, "q2"))["answer_author_ids"] == []

"""Events published to a real content topic become (and stop being) searchable, whatever their order."""

import asyncio

import pytest
from agora_common.events import content as ev
from agora_common.topics import Topics
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import murmur2

pytestmark = pytest.mark.servers("kafka", "elasticsearch")


def same_partition_as(key: str, partitions: int = 3) -> str:
    """A post id that the producer's default partitioner (murmur2 of the key) puts on `key`'s partition."""
    target = (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
    return next(f"m{i}" for i in range(1000) if (murmur2(f"m{i}".encode()) & 0x7FFFFFFF) % partitions == target)


async def test_questions_answers_and_articles_are_indexed(api, content):
    await content.ask("q1", "How to configure storage on Kubernetes", "I need persistent volumes", tags=["K8s", "storage"])
    await content.answer("a1", "q1", "Create a StorageClass and a PersistentVolumeClaim")
    await content.answer("a2", "q1", "Use hostPath for testing only")
    await content.accept("a1", "q1")
    await content.vote("q1", 3)
    await content.publish_article("r1", "Kafka partitions explained", "Keys decide partitions", tags=["kafka"])

    result = await api.wait_for(lambda r: r["total"] == 2 and any(h["answer_count"] == 2 for h in r["hits"]))
    q1 = next(h for h in result["hits"] if h["id"] == "q1")
    assert q1 == q1 | {"type": "question", "tags": ["k8s", "storage"], "author_id": "u1", "score": 3,
                       "answer_count": 2, "has_accepted_answer": True}
    article = next(h for h in result["hits"] if h["id"] == "r1")
    assert article["type"] == "article" and article["answer_count"] is None
    # answers' text is searchable and finds their question
    assert api.ids(await api.search(q="PersistentVolumeClaim")) == ["q1"]


async def test_edits_tags_votes_acceptance_delete_restore_hide_unpublish(api, content):
    await content.ask("q1", "Original title", "body", tags=["old"])
    await content.answer("a1", "q1", "an answer")
    await content.accept("a1", "q1")
    await content.publish_article("r1", "An article about gardening", "plants")
    await api.wait_ids(["q1"], accepted="true")

    await content.send(ev.QuestionEdited(post_id="q1", author_id="u1", tags=["new"], title="Renamed question",
                                         body="body", editor_id="u1", revision=2))
    await content.vote("q1", -2)
    await content.send(ev.AcceptanceRevoked(post_id="a1", question_id="q1", author_id="u2", asker_id="u1"))
    result = await api.wait_for(lambda r: r["hits"] and r["hits"][0]["title"] == "Renamed question"
                                and r["hits"][0]["score"] == -2 and not r["hits"][0]["has_accepted_answer"],
                                q="renamed")
    assert result["hits"][0]["tags"] == ["new"]
    assert api.ids(await api.search(tags="old")) == []

    delete = ev.PostDeleted(post_id="q1", post_type="question", author_id="u1", tags=["new"], deleted_by="m")
    await content.send(delete)
    await api.wait_ids([], q="renamed")
    await content.send(ev.PostRestored(post_id="q1", post_type="question", author_id="u1", tags=["new"],
                                       restored_by="m"))
    await api.wait_ids(["q1"], q="renamed")

    await content.send(ev.PostHidden(post_id="q1", post_type="question", author_id="u1", moderator_id="m"))
    await api.wait_ids([], q="renamed")
    await content.send(ev.PostUnhidden(post_id="q1", post_type="question", author_id="u1", moderator_id="m"))
    await api.wait_ids(["q1"], q="renamed")

    # a deleted answer leaves the count and the text
    await content.send(ev.PostDeleted(post_id="a1", post_type="answer", question_id="q1", author_id="u2",
                                      deleted_by="m"))
    await api.wait_ids(["q1"], answered="false")

    await content.send(ev.ArticleUnpublished(post_id="r1", author_id="u1"))
    await api.wait_ids([], q="gardening")


async def test_out_of_order_and_duplicate_events_converge_to_the_newest_state(api, content):
    asked = content.envelope(ev.QuestionAsked(post_id="q1", author_id="u1", tags=["a"], title="First title",
                                              body="b", created_at=content.created()))
    edited = content.envelope(ev.QuestionEdited(post_id="q1", author_id="u1", tags=["b"], title="Second title",
                                                body="b", editor_id="u1", revision=2))
    voted = content.envelope(ev.PostVoted(post_id="q1", post_type="question", author_id="u1", tags=["b"],
                                          voter_id="v", value=1, score=5))
    deleted = content.envelope(ev.PostDeleted(post_id="q1", post_type="question", author_id="u1", tags=["b"],
                                              deleted_by="m"))
    restored = content.envelope(ev.PostRestored(post_id="q1", post_type="question", author_id="u1", tags=["b"],
                                                restored_by="m"))
    # newest first, then the older ones, each twice
    await content.send_envelopes([restored, voted, edited, deleted, asked, asked, edited, deleted, voted])
    # a marker on q1's partition: once it is searchable, every event before it was handled
    marker = same_partition_as("q1")
    await content.ask(marker, "Marker question")
    await api.wait_ids([marker], q="marker")

    result = await api.search(q="title")
    assert api.ids(result) == ["q1"]
    assert result["hits"][0] | {"title": "Second title", "score": 5, "tags": ["b"]} == result["hits"][0]


async def test_malformed_events_are_dead_lettered_and_indexing_continues(api, content, settings):
    topics = Topics(settings.topic_prefix)
    raw = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await raw.start()
    try:
        await raw.send_and_wait(topics.content, b"{not json", key=b"x")
        orphan = content.envelope(ev.AnswerPosted(post_id="a9", author_id="u", body="orphan", question_author_id=None,
                                                  created_at=content.created()))
        await raw.send_and_wait(topics.content, orphan.to_bytes(), key=b"a9")
    finally:
        await raw.stop()
    await content.ask("q1", "Still indexed after garbage")
    await api.wait_ids(["q1"], q="garbage")

    dlq = AIOKafkaConsumer(topics.dead_letter, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest")
    await dlq.start()
    reasons: list[str] = []
    try:
        for _ in range(100):
            for records in (await dlq.getmany(timeout_ms=200)).values():
                reasons += [dict(r.headers)["x-agora-reason"].decode() for r in records]
            if len(reasons) >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await dlq.stop()
    assert sorted(reasons) == ["malformed_envelope", "missing_question_id"]

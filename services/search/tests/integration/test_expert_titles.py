"""Hits say when a post's author, or its accepted answer's author, is one of the community's experts of the post's
tags (an honor title with the scope "tag:<tag>", from the users topic); renames keep it, revocations and account
deletions take it away, late replays change nothing."""

from datetime import UTC, datetime

import pytest
from agora_common.events.users import (
    HonorTitleGranted,
    HonorTitleRevoked,
    ProfileUpdated,
    UserDeleted,
    UserRegistered,
)
from agora_common.topics import Topics
from agora_testing.events import publish_versioned

pytestmark = pytest.mark.servers("kafka", "elasticsearch")



def experts(result: dict) -> dict:
    """hit id -> (the author's expert tags, the accepted answer author's name and expert tags)"""
    return {h["id"]: (h["author_expert_tags"], h["accepted_answer"] and (
        h["accepted_answer"]["author_display_name"], h["accepted_answer"]["author_expert_tags"]))
        for h in result["hits"]}


async def test_hits_show_the_authors_expert_tags(api, content, settings):
    now = datetime.now(UTC)
    await publish_versioned(settings.kafka, Topics(settings.topic_prefix).users,
                        (1, UserRegistered(user_id="bob", display_name="Bob", registered_at=now)),
                        (2, HonorTitleGranted(user_id="bob", title="Expert", granted_by="op", scope="tag:kafka")),
                        (3, HonorTitleGranted(user_id="bob", title="Mentor", granted_by="op", scope="tag:kafka")),
                        (4, HonorTitleGranted(user_id="bob", title="Expert", granted_by="op", scope="tag:go")),
                        (5, HonorTitleGranted(user_id="bob", title="Ambassador", granted_by="op")),
                        (6, ProfileUpdated(user_id="bob", display_name="Robert")),  # a rename keeps the titles
                        (1, HonorTitleGranted(user_id="carol", title="Expert", granted_by="op",
                                              scope="tag:python")))
    await content.ask("q1", "Kafka consumer lag keeps growing", tags=["kafka", "monitoring"], author="alice")
    await content.answer("a1", "q1", "Raise max.poll.records", author="bob")
    await content.accept("a1", "q1")
    await content.publish_article("r1", "Kafka on Kubernetes, lessons learnt", tags=["kafka", "kubernetes"],
                                  author="bob")
    await content.ask("q2", "Kafka client for python", tags=["python"], author="bob")
    await content.answer("a2", "q2", "confluent-kafka", author="carol")
    await content.accept("a2", "q2")

    # bob answered q1 and wrote r1 (kafka); q2 is bob's (python, not his) with carol's answer (python's expert, though
    # search knows no name of hers)
    want = {"q1": ([], ("Robert", ["kafka"])), "r1": (["kafka"], None), "q2": ([], (None, ["python"]))}
    await api.wait_for(lambda r: experts(r) == want, q="kafka")

    # one of bob's two kafka titles revoked: still an expert; the other one too: no longer
    await publish_versioned(settings.kafka, Topics(settings.topic_prefix).users,
                        (7, HonorTitleRevoked(user_id="bob", title="Mentor", revoked_by="op", scope="tag:kafka")),
                        (8, HonorTitleRevoked(user_id="bob", title="Ambassador", revoked_by="op")))
    await api.wait_for(lambda r: experts(r) == want, q="kafka")
    await publish_versioned(settings.kafka, Topics(settings.topic_prefix).users,
                        (9, HonorTitleRevoked(user_id="bob", title="Expert", revoked_by="op", scope="tag:kafka")),
                        (2, HonorTitleGranted(user_id="bob", title="Expert", granted_by="op", scope="tag:kafka")))
    want = {**want, "q1": ([], ("Robert", [])), "r1": ([], None)}
    result = await api.wait_for(lambda r: experts(r) == want, q="kafka")
    assert result["total"] == 3

    # carol deletes her account: the answer stays accepted, naming nobody, expert of nothing
    await publish_versioned(settings.kafka, Topics(settings.topic_prefix).users, (2, UserDeleted(user_id="carol")),
                        (1, HonorTitleGranted(user_id="carol", title="Expert", granted_by="op", scope="tag:python")))
    await api.wait_for(lambda r: experts(r)["q2"] == ([], (None, [])), q="kafka")

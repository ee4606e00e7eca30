"""Hits of questions name their accepted answer and its author (id from the content events, display name from
the users topic), renamed when the member is, moved with the acceptance, and dropped with a deleted account."""

from datetime import UTC, datetime

import pytest
from agora_common.events import content as ev
from agora_common.events.users import ProfileUpdated, UserDeleted, UserRegistered
from agora_common.topics import Topics
from agora_testing.events import publish_versioned

pytestmark = pytest.mark.servers("kafka", "elasticsearch")



def accepted(result: dict) -> dict:
    """Each hit's accepted answer (without the expert tags: test_expert_titles.py)."""
    return {h["id"]: h["accepted_answer"] and {k: v for k, v in h["accepted_answer"].items()
                                              if k != "author_expert_tags"} for h in result["hits"]}


async def test_hits_name_the_accepted_answers_author(api, content, settings):
    now = datetime.now(UTC)
    await publish_versioned(settings.kafka, Topics(settings.topic_prefix).users, (1, UserRegistered(user_id="bob", display_name="Bob", registered_at=now)))
    await content.ask("q1", "Tuning Kafka consumer lag", author="alice")
    await content.ask("q2", "Tuning Kafka producer batches", author="alice")
    await content.publish_article("r1", "Kafka tuning notes", author="alice")
    await content.answer("a1", "q1", "Raise max.poll.records", author="bob")
    await content.answer("a2", "q1", "Add partitions", author="carol")
    await content.accept("a1", "q1")

    result = await api.wait_for(lambda r: r["total"] == 3 and accepted(r)["q1"] is not None
                                and accepted(r)["q1"]["author_display_name"] == "Bob", q="kafka")
    assert accepted(result) == {
        "q1": {"id": "a1", "author_id": "bob", "author_display_name": "Bob"}, "q2": None, "r1": None}

    # renamed: every hit says the new name at once; a late replay of the older name changes nothing
    await publish_versioned(settings.kafka, Topics(settings.topic_prefix).users, (3, ProfileUpdated(user_id="bob", display_name="Robert")),
                        (1, UserRegistered(user_id="bob", display_name="Bob", registered_at=now)))
    await api.wait_for(lambda r: accepted(r)["q1"]["author_display_name"] == "Robert", q="kafka")
    await publish_versioned(settings.kafka, Topics(settings.topic_prefix).users, (4, ProfileUpdated(user_id="carol", display_name="Carol")))

    # the acceptance moves to carol's answer
    await content.send(ev.AcceptanceRevoked(post_id="a1", question_id="q1", author_id="bob", asker_id="alice"))
    await content.send(ev.AnswerAccepted(post_id="a2", question_id="q1", author_id="carol", asker_id="alice",
                                         previous_answer_id="a1"))
    await api.wait_for(lambda r: accepted(r)["q1"] == {"id": "a2", "author_id": "carol",
                                                       "author_display_name": "Carol"}, q="kafka")
    assert (await api.search(accepted="true"))["total"] == 1

    # carol deletes her account: the answer stays accepted, without naming her
    await publish_versioned(settings.kafka, Topics(settings.topic_prefix).users, (5, UserDeleted(user_id="carol")))
    await api.wait_for(lambda r: accepted(r)["q1"] == {"id": "a2", "author_id": None, "author_display_name": None},
                       q="kafka")
    # nor does a late rename bring her name back
    await publish_versioned(settings.kafka, Topics(settings.topic_prefix).users, (4, ProfileUpdated(user_id="carol", display_name="Carol")))
    await api.wait_for(lambda r: accepted(r)["q1"]["author_id"] is None, q="kafka")

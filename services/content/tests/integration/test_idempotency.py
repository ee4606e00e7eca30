"""Idempotency-Key: a retried (or concurrently duplicated) creating POST creates one resource and one event."""

import asyncio

import pytest
from agora_testing.events import read_events

pytestmark = pytest.mark.servers("kafka", "mongo")

API = "/api/v1/content"
QUESTION = {"title": "How do I upgrade?", "body": "From 3.3 to 3.4", "tags": ["upgrade"]}


async def test_retried_post_returns_the_same_question(client, auth, app, settings, topics):
    headers = {**auth("alice"), "Idempotency-Key": "k-1"}
    first = await client.post(f"{API}/questions", headers=headers, json=QUESTION)
    again = await client.post(f"{API}/questions", headers=headers, json=QUESTION)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    # the same key from another member is another request
    other = await client.post(f"{API}/questions", headers={**auth("bob"), "Idempotency-Key": "k-1"}, json=QUESTION)
    assert other.json()["id"] != first.json()["id"]
    r = await client.post(f"{API}/questions", headers=headers, json={**QUESTION, "title": "Something else"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_reused"
    assert await app.state.store.posts.count_documents({}) == 2


async def test_concurrent_duplicates_create_once(client, auth, app, ask, settings, topics):
    q = await ask()
    headers = {**auth("bob"), "Idempotency-Key": "answer-7"}
    url = f"{API}/questions/{q['id']}/answers"
    responses = await asyncio.gather(*[client.post(url, headers=headers, json={"body": "same"}) for _ in range(5)])
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert (await client.get(f"{API}/questions/{q['id']}")).json()["answer_count"] == 1
    for path, body in ((f"{API}/articles", {"title": "An article", "body": "x"}),
                       (f"{API}/posts/{q['id']}/comments", {"body": "hi"}),
                       (f"{API}/resources", {"url": "https://example.org", "title": "A link"})):
        h = {**auth("carol"), "Idempotency-Key": "same-key-different-endpoints"}
        a, b = await client.post(path, headers=h, json=body), await client.post(path, headers=h, json=body)
        assert a.status_code == b.status_code == 201 and a.json()["id"] == b.json()["id"], path
    events = await read_events(settings.kafka_bootstrap, topics.content, until=lambda es: len(es) >= 4)
    assert sorted(e.type for e in events) == ["AnswerPosted", "CommentPosted", "QuestionAsked", "ResourceAdded"]


async def test_a_retried_flag_answers_the_first_flag(client, auth, ask, settings, topics):
    q = await ask()
    url = f"{API}/posts/{q['id']}/flags"
    headers = {**auth("bob"), "Idempotency-Key": "flag-1"}
    first = await client.post(url, headers=headers, json={"reason": "spam link"})
    again = await client.post(url, headers=headers, json={"reason": "spam link"})  # e.g. after a gateway timeout
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    changed = await client.post(url, headers=headers, json={"reason": "something else"})
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "idempotency_key_reused"
    plain = await client.post(url, headers=auth("bob"), json={"reason": "spam link"})  # without a key: the rule
    assert plain.status_code == 409 and plain.json()["error"]["code"] == "already_flagged"
    queue = (await client.get(f"{API}/moderation/queue", headers=auth("mod", "moderator"))).json()
    assert [len(i["flags"]) for i in queue["items"]] == [1]
    events = await read_events(settings.kafka_bootstrap, topics.content, until=lambda es: len(es) >= 2)
    assert [e.type for e in events].count("PostFlagged") == 1

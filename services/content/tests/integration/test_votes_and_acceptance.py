"""Votes and accepted answers, including concurrent requests: exact scores, exact events, increasing versions."""

import asyncio

import pytest
from agora_testing.events import read_events

pytestmark = pytest.mark.servers("kafka", "mongo")

API = "/api/v1/content"


async def test_vote_change_retract_and_rules(client, auth, ask, settings, topics):
    q = await ask()
    url = f"{API}/posts/{q['id']}/vote"
    r = await client.put(url, headers=auth("alice"), json={"value": 1})
    assert r.status_code == 403 and r.json()["error"]["code"] == "own_post"
    assert (await client.put(url, headers=auth("bob"), json={"value": 1})).json()["score"] == 1
    assert (await client.put(url, headers=auth("bob"), json={"value": 1})).json()["score"] == 1  # same vote: no-op
    r = await client.put(url, headers=auth("bob"), json={"value": -1})
    assert r.json() == {"post_id": q["id"], "value": -1, "score": -1, "version": 3}
    assert (await client.get(url, headers=auth("bob"))).json()["value"] == -1
    r = await client.delete(url, headers=auth("bob"))
    assert r.json()["score"] == 0 and r.json()["value"] == 0
    assert (await client.delete(url, headers=auth("bob"))).json()["version"] == 4  # nothing to retract: no change
    got = (await client.get(f"{API}/questions/{q['id']}")).json()
    assert (got["score"], got["upvotes"], got["downvotes"]) == (0, 0, 0)

    events = await read_events(settings.kafka_bootstrap, topics.content, until=lambda es: len(es) >= 4)
    votes = [e for e in events if e.subject == q["id"] and e.type != "QuestionAsked"]
    assert [(e.type, e.version, e.data.get("value"), e.data["previous_value"], e.data["score"]) for e in votes] == [
        ("PostVoted", 2, 1, 0, 1), ("PostVoted", 3, -1, 1, -1), ("VoteRetracted", 4, None, -1, 0),
    ]
    assert all(e.data["voter_id"] == "bob" and e.data["author_id"] == "alice" for e in votes)


async def test_no_votes_on_deleted_posts_or_comments(client, auth, ask):
    q = await ask()
    r = await client.post(f"{API}/posts/{q['id']}/comments", headers=auth("bob"), json={"body": "nice"})
    r = await client.put(f"{API}/posts/{r.json()['id']}/vote", headers=auth("carol"), json={"value": 1})
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_votable"
    assert (await client.delete(f"{API}/posts/{q['id']}", headers=auth("bob"))).status_code == 403
    assert (await client.delete(f"{API}/posts/{q['id']}", headers=auth("alice"))).status_code == 200
    r = await client.put(f"{API}/posts/{q['id']}/vote", headers=auth("bob", "moderator"), json={"value": 1})
    assert r.status_code == 410 and r.json()["error"]["code"] == "post_deleted"
    # a plain member no longer sees the post at all
    r = await client.put(f"{API}/posts/{q['id']}/vote", headers=auth("carol"), json={"value": 1})
    assert r.status_code == 404


async def test_many_concurrent_votes_give_the_exact_score_and_events(client, auth, ask, settings, topics):
    q = await ask()
    url = f"{API}/posts/{q['id']}/vote"
    voters = [f"voter{i}" for i in range(12)]
    values = [1 if i % 3 else -1 for i in range(12)]  # 8 up, 4 down
    # each voter also sends the same vote twice at once: one vote per member
    requests = [client.put(url, headers=auth(v), json={"value": val})
                for v, val in zip(voters, values, strict=True)] * 2
    responses = await asyncio.gather(*requests)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    got = (await client.get(f"{API}/questions/{q['id']}")).json()
    assert (got["score"], got["upvotes"], got["downvotes"]) == (4, 8, 4)
    assert got["version"] == 1 + 12

    events = await read_events(settings.kafka_bootstrap, topics.content, until=lambda es: len(es) >= 13)
    voted = [e for e in events if e.type == "PostVoted"]
    assert len(voted) == 12 and sorted(e.data["voter_id"] for e in voted) == sorted(voters)
    assert [e.version for e in voted] == list(range(2, 14))  # strictly increasing, in publication order
    assert voted[-1].data["score"] == 4


async def test_accept_change_and_revoke(client, auth, ask, answer, settings, topics):
    q = await ask()
    a1, a2 = await answer(q["id"], "bob"), await answer(q["id"], "carol")
    url = f"{API}/questions/{q['id']}/accept"
    r = await client.post(url, headers=auth("bob"), json={"answer_id": a1["id"]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_asker"
    other = await ask("dave")
    r = await client.post(url, headers=auth("alice"), json={"answer_id": (await answer(other["id"]))["id"]})
    assert r.status_code == 404  # an answer to another question
    assert (await client.post(url, headers=auth("alice"), json={"answer_id": a1["id"]})).json()[
        "accepted_answer_id"] == a1["id"]
    r = await client.post(url, headers=auth("alice"), json={"answer_id": a2["id"]})
    assert r.status_code == 200 and r.json()["accepted_answer_id"] == a2["id"]
    answers = (await client.get(f"{API}/questions/{q['id']}/answers")).json()
    assert [(a["id"], a["accepted"]) for a in answers] == [(a2["id"], True), (a1["id"], False)]
    r = await client.delete(url, headers=auth("alice"))
    assert r.status_code == 200 and r.json()["accepted_answer_id"] is None

    events = await read_events(settings.kafka_bootstrap, topics.content, until=lambda es: len(es) >= 9)
    def story(answer_id):  # order is guaranteed per subject (one partition per key), not across subjects
        return [(e.type, e.version, e.data.get("previous_answer_id")) for e in events
                if e.subject == answer_id and e.type in ("AnswerAccepted", "AcceptanceRevoked")]

    assert story(a1["id"]) == [("AnswerAccepted", 2, None), ("AcceptanceRevoked", 3, None)]
    assert story(a2["id"]) == [("AnswerAccepted", 2, a1["id"]), ("AcceptanceRevoked", 3, None)]
    accepted = next(e for e in events if e.type == "AnswerAccepted" and e.subject == a1["id"])
    assert accepted.data["author_id"] == "bob" and accepted.data["asker_id"] == "alice"


async def test_two_accepts_at_once_leave_one_consistent_winner(client, auth, ask, answer, settings, topics, app):
    q = await ask()
    a1, a2 = await answer(q["id"], "bob"), await answer(q["id"], "carol")
    url = f"{API}/questions/{q['id']}/accept"
    r1, r2 = await asyncio.gather(
        client.post(url, headers=auth("alice"), json={"answer_id": a1["id"]}),
        client.post(url, headers=auth("alice"), json={"answer_id": a2["id"]}),
    )
    assert r1.status_code == r2.status_code == 200
    final = (await client.get(f"{API}/questions/{q['id']}")).json()["accepted_answer_id"]
    loser = a1["id"] if final == a2["id"] else a2["id"]
    answers = {a["id"]: a["accepted"] for a in (await client.get(f"{API}/questions/{q['id']}/answers")).json()}
    assert answers == {final: True, loser: False}

    events = await read_events(settings.kafka_bootstrap, topics.content, until=lambda es: len(es) >= 6)
    def story(answer_id):
        return [(e.type, e.data.get("previous_answer_id")) for e in events
                if e.subject == answer_id and e.type in ("AnswerAccepted", "AcceptanceRevoked")]

    # applied one after the other: the first accept, then the move to the final answer
    assert story(loser) == [("AnswerAccepted", None), ("AcceptanceRevoked", None)]
    assert story(final) == [("AnswerAccepted", loser)]


async def test_deleting_the_accepted_answer_revokes_and_restore_counts_again(client, auth, ask, answer, settings,
                                                                            topics):
    q = await ask()
    a = await answer(q["id"])
    await client.post(f"{API}/questions/{q['id']}/accept", headers=auth("alice"), json={"answer_id": a["id"]})
    r = await client.delete(f"{API}/posts/{a['id']}", headers=auth("bob"))
    assert r.status_code == 200 and r.json()["deleted"] is True
    got = (await client.get(f"{API}/questions/{q['id']}")).json()
    assert got["accepted_answer_id"] is None and got["answer_count"] == 0
    assert (await client.get(f"{API}/answers/{a['id']}")).status_code == 404
    assert (await client.get(f"{API}/answers/{a['id']}", headers=auth("bob"))).json()["deleted"] is True
    r = await client.post(f"{API}/posts/{a['id']}/restore", headers=auth("carol"))
    assert r.status_code == 404  # others do not see a deleted post
    r = await client.post(f"{API}/posts/{a['id']}/restore", headers=auth("bob"))
    assert r.status_code == 200 and r.json()["deleted"] is False
    assert (await client.get(f"{API}/questions/{q['id']}")).json()["answer_count"] == 1

    events = await read_events(settings.kafka_bootstrap, topics.content, until=lambda es: len(es) >= 6)
    mine = [(e.type, e.version) for e in events if e.subject == a["id"]]
    assert mine == [("AnswerPosted", 1), ("AnswerAccepted", 2), ("AcceptanceRevoked", 3), ("PostDeleted", 4),
                    ("PostRestored", 5)]


async def test_only_moderators_undo_a_moderators_deletion(client, auth, ask):
    q = await ask()
    assert (await client.delete(f"{API}/posts/{q['id']}", headers=auth("mod", "moderator"))).status_code == 200
    r = await client.post(f"{API}/posts/{q['id']}/restore", headers=auth("alice"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_allowed"
    r = await client.patch(f"{API}/questions/{q['id']}", headers=auth("alice"), json={"body": "edited"})
    assert r.status_code == 410
    assert (await client.post(f"{API}/posts/{q['id']}/restore", headers=auth("mod", "moderator"))).status_code == 200
    assert (await client.get(f"{API}/questions/{q['id']}")).status_code == 200


async def test_the_answers_of_a_deleted_question_go_with_it(client, auth, ask, answer):
    """Found with issue 11: an answer of a deleted question still read deleted=false."""
    q = await ask()
    a = await answer(q["id"], "bob")
    assert (await client.get(f"/api/v1/content/answers/{a['id']}")).status_code == 200
    assert (await client.delete(f"/api/v1/content/posts/{q['id']}", headers=auth("alice"))).status_code == 200
    r = await client.get(f"/api/v1/content/answers/{a['id']}")  # like a deleted post: not found for others
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert (await client.get(f"/api/v1/content/answers/{a['id']}", headers=auth("bob"))).status_code == 404
    assert (await client.get(f"/api/v1/content/answers/{a['id']}", headers=auth("alice"))).status_code == 200
    assert (await client.post(f"/api/v1/content/posts/{q['id']}/restore", headers=auth("alice"))).status_code == 200
    assert (await client.get(f"/api/v1/content/answers/{a['id']}")).json()["deleted"] is False

"""Questions, answers, comments, edits with revisions, listing: against real MongoDB and Kafka."""

import pytest
from agora_testing.events import read_events

pytestmark = pytest.mark.servers("kafka", "mongo")

API = "/api/v1/content"


async def test_ask_answer_comment_publish_events_with_author_and_tags(client, auth, ask, answer, settings, topics):
    q = await ask(tags=["KubeSphere", "install", "kubesphere"], sig_id="sig-install")
    assert q["tags"] == ["kubesphere", "install"]
    assert q["author_id"] == "alice" and q["version"] == 1 and q["score"] == 0 and q["answer_count"] == 0
    assert "<strong>helm</strong>" in q["body_html"]
    a = await answer(q["id"])
    r = await client.post(f"{API}/posts/{a['id']}/comments", headers=auth("carol"), json={"body": "works for me"})
    assert r.status_code == 201
    comment = r.json()
    assert comment["question_id"] == q["id"] and comment["parent_id"] == a["id"]

    got = (await client.get(f"{API}/questions/{q['id']}")).json()
    assert got["answer_count"] == 1
    answers = (await client.get(f"{API}/questions/{q['id']}/answers")).json()
    assert [x["id"] for x in answers] == [a["id"]]

    events = await read_events(settings.kafka_bootstrap, topics.content, until=lambda es: len(es) >= 3)
    by_type = {e.type: e for e in events}
    assert set(by_type) == {"QuestionAsked", "AnswerPosted", "CommentPosted"}
    asked = by_type["QuestionAsked"]
    assert asked.subject == q["id"] and asked.version == 1 and asked.actor == "alice"
    assert asked.data["tags"] == ["kubesphere", "install"] and asked.data["sig_id"] == "sig-install"
    posted = by_type["AnswerPosted"].data
    assert posted["author_id"] == "bob" and posted["question_author_id"] == "alice"
    assert posted["question_id"] == q["id"] and posted["tags"] == ["kubesphere", "install"]
    assert by_type["CommentPosted"].data["parent_id"] == a["id"]


async def test_edit_keeps_revisions_and_checks_author_and_version(client, auth, ask, answer, settings, topics):
    q = await ask()
    a = await answer(q["id"])
    url = f"{API}/questions/{q['id']}"
    r = await client.patch(url, headers=auth("mallory"), json={"body": "vandalised"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_author"
    r = await client.patch(url, headers={**auth("alice"), "If-Match": "7"}, json={"body": "v2"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "version_mismatch"
    r = await client.patch(url, headers={**auth("alice"), "If-Match": "2"}, json={"body": "v2", "tags": ["helm"]})
    assert r.status_code == 200
    assert r.json()["revision"] == 2 and r.json()["tags"] == ["helm"] and r.json()["version"] == 3
    assert (await client.get(f"{API}/answers/{a['id']}")).json()["tags"] == ["helm"]  # answers follow the question
    r = await client.patch(url, headers=auth("mod", "moderator"), json={"title": "Install KubeSphere on k8s"})
    assert r.status_code == 200 and r.json()["revision"] == 3
    revs = (await client.get(f"{API}/posts/{q['id']}/revisions")).json()
    assert [(x["revision"], x["editor_id"]) for x in revs] == [(1, "alice"), (2, "alice"), (3, "mod")]
    assert revs[0]["body"] == "I tried **helm**." and revs[1]["body"] == "v2"
    # read until both edits are in: the question, the answer and the edits are relayed in batches
    events = await read_events(settings.kafka_bootstrap, topics.content,
                               until=lambda es: sum(e.type == "QuestionEdited" for e in es) >= 2)
    edits = [e for e in events if e.type == "QuestionEdited"]
    assert [(e.version, e.data["revision"]) for e in edits] == [(3, 2), (4, 3)]  # version 2: the answer count
    assert edits[1].data["editor_id"] == "mod" and edits[1].data["author_id"] == "alice"


@pytest.mark.parametrize(
    "body, code",
    [
        ({"body": "x", "tags": ["a"]}, "invalid_input"),  # no title
        ({"title": "Hi", "body": "x", "tags": ["a"]}, "invalid_input"),  # title too short
        ({"title": "A fine title", "body": "", "tags": ["a"]}, "invalid_input"),
        ({"title": "A fine title", "body": "x", "tags": []}, "invalid_input"),
        ({"title": "A fine title", "body": "x", "tags": ["a", "b", "c", "d", "e", "f"]}, "invalid_input"),
        ({"title": "A fine title", "body": "x", "tags": ["no-slash/"]}, "invalid_input"),
        ({"title": "A fine title", "body": "x", "tags": ["a"], "extra": 1}, "invalid_input"),
        ({"title": "A fine title", "body": "x" * 50_001, "tags": ["a"]}, "invalid_input"),
    ],
)
async def test_bad_questions_are_refused_and_nothing_is_written(client, auth, app, body, code):
    r = await client.post(f"{API}/questions", headers=auth("alice"), json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    assert await app.state.store.posts.count_documents({}) == 0
    assert await app.state.store.db["outbox"].count_documents({}) == 0


async def test_oversized_request_and_auth_and_unknown_ids(client, auth, ask):
    r = await client.post(f"{API}/questions", headers=auth("alice"),
                          json={"title": "A fine title", "body": "x" * 400_000, "tags": ["a"]})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    r = await client.post(f"{API}/questions", json={"title": "A fine title", "body": "x", "tags": ["a"]})
    assert r.status_code == 401
    r = await client.post(f"{API}/questions", json={"title": "no token"})  # no token wins over a bad body
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = await client.post(f"{API}/questions", headers={"Authorization": "Bearer nonsense"},
                          json={"title": "A fine title", "body": "x", "tags": ["a"]})
    assert r.status_code == 401
    assert (await client.get(f"{API}/questions/nope")).status_code == 404
    r = await client.post(f"{API}/questions/nope/answers", headers=auth("bob"), json={"body": "hi"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    q = await ask()
    r = await client.post(f"{API}/questions/{q['id']}/answers", headers=auth("bob"), json={})
    assert r.status_code == 422
    r = await client.put(f"{API}/posts/nope/vote", headers=auth("bob"), json={"value": 1})
    assert r.status_code == 404
    r = await client.put(f"{API}/posts/{q['id']}/vote", headers=auth("bob"), json={"value": 2})
    assert r.status_code == 422
    r = await client.post(f"{API}/questions/{q['id']}/accept", headers=auth("alice"), json={"answer_id": "nope"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "answer_not_found"
    r = await client.get(f"{API}/questions", params={"cursor": "garbage!!"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cursor"


async def test_listing_filters_sorts_and_paginates(client, auth, ask, answer):
    qs = [await ask(tags=["k8s", "helm"] if i % 2 else ["k8s"], title=f"Question number {i}") for i in range(5)]
    await answer(qs[1]["id"])
    for voter in ("v1", "v2"):
        assert (await client.put(f"{API}/posts/{qs[3]['id']}/vote", headers=auth(voter), json={"value": 1})
                ).status_code == 200
    newest = (await client.get(f"{API}/questions", params={"limit": 10})).json()
    assert [x["id"] for x in newest["items"]] == [q["id"] for q in reversed(qs)] and newest["next_cursor"] is None

    page1 = (await client.get(f"{API}/questions", params={"limit": 2, "sort": "newest"})).json()
    page2 = (await client.get(f"{API}/questions", params={"limit": 2, "cursor": page1["next_cursor"]})).json()
    page3 = (await client.get(f"{API}/questions", params={"limit": 2, "cursor": page2["next_cursor"]})).json()
    seen = [x["id"] for p in (page1, page2, page3) for x in p["items"]]
    assert seen == [q["id"] for q in reversed(qs)] and page3["next_cursor"] is None

    sig_q = await ask(title="A SIG question", sig_id="sig-devops")
    in_sig = (await client.get(f"{API}/questions", params={"sig_id": "sig-devops"})).json()
    assert [x["id"] for x in in_sig["items"]] == [sig_q["id"]]
    await client.delete(f"{API}/posts/{sig_q['id']}", headers=auth("alice"))
    tagged = (await client.get(f"{API}/questions", params={"tag": ["helm", "k8s"]})).json()
    assert {x["id"] for x in tagged["items"]} == {qs[1]["id"], qs[3]["id"]}
    votes = (await client.get(f"{API}/questions", params={"sort": "votes", "limit": 1})).json()
    assert votes["items"][0]["id"] == qs[3]["id"] and votes["items"][0]["score"] == 2
    rest = (await client.get(f"{API}/questions", params={"sort": "votes", "limit": 10,
                                                          "cursor": votes["next_cursor"]})).json()
    assert len(rest["items"]) == 4 and qs[3]["id"] not in {x["id"] for x in rest["items"]}
    active = (await client.get(f"{API}/questions", params={"sort": "active", "limit": 1})).json()
    assert active["items"][0]["id"] == qs[1]["id"]  # the answer made it the most recently active
    active2 = (await client.get(f"{API}/questions", params={"sort": "active", "limit": 10,
                                                            "cursor": active["next_cursor"]})).json()
    assert len(active2["items"]) == 4
    unanswered = (await client.get(f"{API}/questions", params={"sort": "unanswered", "limit": 10})).json()
    assert qs[1]["id"] not in {x["id"] for x in unanswered["items"]} and len(unanswered["items"]) == 4
    r = await client.get(f"{API}/questions", params={"sort": "votes", "cursor": page1["next_cursor"]})
    assert r.status_code == 422  # a cursor belongs to its sort order


async def test_server_timing_splits_database_and_service_time(client, ask):
    import re

    q = await ask()
    r = await client.get(f"{API}/questions/{q['id']}")
    match = re.fullmatch(r"db;dur=([\d.]+), app;dur=([\d.]+)", r.headers["Server-Timing"])
    assert match and float(match.group(1)) > 0  # the find went to the database and was timed
    health = await client.get("/healthz")
    assert health.headers["Server-Timing"].startswith("db;dur=0.00,")  # no database work, no database time

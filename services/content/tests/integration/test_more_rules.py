"""The remaining rules, each with the 4xx it must give."""

import pytest

pytestmark = pytest.mark.servers("kafka", "mongo")

API = "/api/v1/content"
MOD = ("mod", "moderator")


async def test_comments_answers_and_their_rules(client, auth, ask, answer):
    q = await ask()
    a = await answer(q["id"], "bob")
    c = await client.post(f"{API}/posts/{q['id']}/comments", headers=auth("carol"), json={"body": "  which version?  "})
    assert c.status_code == 201 and c.json()["body"] == "which version?" and c.json()["parent_type"] == "question"
    r = await client.post(f"{API}/posts/{c.json()['id']}/comments", headers=auth("bob"), json={"body": "3.4"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_parent"
    r = await client.post(f"{API}/posts/{q['id']}/comments", headers=auth("bob"), json={"body": "x" * 2001})
    assert r.status_code == 422
    await client.post(f"{API}/posts/{q['id']}/comments", headers=auth("bob"), json={"body": "3.4"})
    comments = (await client.get(f"{API}/posts/{q['id']}/comments")).json()
    assert [x["body"] for x in comments] == ["which version?", "3.4"]
    assert (await client.get(f"{API}/questions/{q['id']}")).json()["comment_count"] == 2

    r = await client.patch(f"{API}/answers/{a['id']}", headers=auth("carol"), json={"body": "mine now"})
    assert r.status_code == 403
    r = await client.patch(f"{API}/answers/{a['id']}", headers=auth("bob"), json={"body": "Use the installer v2."})
    assert r.status_code == 200 and r.json()["revision"] == 2
    r = await client.patch(f"{API}/answers/{a['id']}", headers=auth("bob"), json={"body": "Use the installer v2."})
    assert r.json()["revision"] == 2  # no change, no revision
    revs = (await client.get(f"{API}/posts/{a['id']}/revisions")).json()
    assert [x["body"] for x in revs] == ["Use the installer.", "Use the installer v2."]
    assert (await client.get(f"{API}/posts/nope/revisions")).status_code == 404

    # a deleted answer cannot be accepted, voted, flagged or answered on
    assert (await client.delete(f"{API}/posts/{a['id']}", headers=auth("bob"))).status_code == 200
    r = await client.post(f"{API}/questions/{q['id']}/accept", headers=auth("alice"), json={"answer_id": a["id"]})
    assert r.status_code == 410 and r.json()["error"]["code"] == "post_deleted"
    r = await client.post(f"{API}/posts/{a['id']}/flags", headers=auth(*MOD), json={"reason": "spam"})
    assert r.status_code == 410
    r = await client.post(f"{API}/posts/{a['id']}/comments", headers=auth("bob"), json={"body": "hm"})
    assert r.status_code == 410
    assert (await client.get(f"{API}/questions/{q['id']}/answers")).json() == []


async def test_hidden_and_unpublished_posts_refuse_votes(client, auth, ask):
    q = await ask()
    await client.post(f"{API}/moderation/posts/{q['id']}/hide", headers=auth(*MOD), json={})
    r = await client.put(f"{API}/posts/{q['id']}/vote", headers=auth("other-mod", "moderator"), json={"value": 1})
    assert r.status_code == 410 and r.json()["error"]["code"] == "post_hidden"
    r = await client.put(f"{API}/posts/{q['id']}/vote", headers=auth("bob"), json={"value": 1})
    assert r.status_code == 404

    art = (await client.post(f"{API}/articles", headers=auth("alice"),
                             json={"title": "Draft article", "body": "x"})).json()
    r = await client.put(f"{API}/posts/{art['id']}/vote", headers=auth(*MOD), json={"value": 1})
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_published"
    assert (await client.delete(f"{API}/posts/{art['id']}", headers=auth("alice"))).status_code == 200
    r = await client.post(f"{API}/articles/{art['id']}/publish", headers=auth("alice"))
    assert r.status_code == 410
    r = await client.get(f"{API}/articles", params={"status": "draft"})
    assert r.status_code == 401


async def test_listing_limits_are_validated(client):
    for params in ({"limit": 0}, {"limit": 101}, {"sort": "random"}, {"tag": "bad/tag"}):
        r = await client.get(f"{API}/questions", params=params)
        assert r.status_code == 422, params
        assert "error" in r.json()

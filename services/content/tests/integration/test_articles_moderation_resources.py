"""Articles (draft, publish, edit, unpublish), flags and the moderation queue, resources."""

import pytest
from agora_testing.events import read_events

pytestmark = pytest.mark.servers("kafka", "mongo")

API = "/api/v1/content"


async def test_article_lifecycle(client, auth, settings, topics):
    r = await client.post(f"{API}/articles", headers=auth("alice"),
                          json={"title": "Running KubeSphere at scale", "body": "# Intro", "tags": ["ops"]})
    assert r.status_code == 201
    art = r.json()
    assert art["status"] == "draft" and art["published_at"] is None
    url = f"{API}/articles/{art['id']}"
    assert (await client.get(url)).status_code == 404  # a draft is private
    assert (await client.get(url, headers=auth("alice"))).status_code == 200
    drafts = (await client.get(f"{API}/articles", params={"status": "draft"}, headers=auth("alice"))).json()
    assert [a["id"] for a in drafts["items"]] == [art["id"]]
    assert (await client.get(f"{API}/articles", params={"status": "draft"}, headers=auth("bob"))).json()["items"] == []
    assert (await client.patch(url, headers=auth("alice"), json={"body": "# Intro\nmore"})).json()["revision"] == 2
    assert (await client.post(f"{url}/publish", headers=auth("bob"))).status_code == 404
    r = await client.post(f"{url}/publish", headers=auth("alice"))
    assert r.status_code == 200 and r.json()["status"] == "published" and r.json()["published_at"]
    assert (await client.get(f"{API}/articles")).json()["items"][0]["id"] == art["id"]
    assert (await client.put(f"{API}/posts/{art['id']}/vote", headers=auth("bob"), json={"value": 1})).status_code == 200
    assert (await client.patch(url, headers=auth("alice"), json={"title": "Running KubeSphere at large scale"})
            ).status_code == 200
    assert (await client.post(f"{url}/unpublish", headers=auth("bob"))).status_code == 403
    r = await client.post(f"{url}/unpublish", headers=auth("alice"))
    assert r.json()["status"] == "unpublished"
    assert (await client.get(url)).status_code == 404
    r = await client.put(f"{API}/posts/{art['id']}/vote", headers=auth("alice", "moderator"), json={"value": 1})
    assert r.status_code == 403  # own post, whatever the role

    events = await read_events(settings.kafka_bootstrap, topics.content, until=lambda es: len(es) >= 4)
    assert [(e.type, e.version) for e in events] == [
        ("ArticlePublished", 3), ("PostVoted", 4), ("ArticleEdited", 5), ("ArticleUnpublished", 6),
    ]  # the draft and its edit published nothing; versions still count every change
    assert events[0].data["tags"] == ["ops"] and events[0].data["author_id"] == "alice"
    assert events[2].data["title"] == "Running KubeSphere at large scale" and events[2].data["revision"] == 3


async def test_flags_queue_hide_unhide_dismiss(client, auth, ask, settings, topics):
    q = await ask()
    flag = f"{API}/posts/{q['id']}/flags"
    r = await client.post(flag, headers=auth("alice"), json={"reason": "spam"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "own_post"
    assert (await client.post(flag, headers=auth("bob"), json={"reason": "spam"})).status_code == 201
    r = await client.post(flag, headers=auth("bob"), json={"reason": "spam again"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_flagged"
    assert (await client.post(flag, headers=auth("carol"), json={"reason": "rude"})).status_code == 201
    assert (await client.post(flag, headers=auth("carol"), json={})).status_code == 422

    assert (await client.get(f"{API}/moderation/queue", headers=auth("bob"))).status_code == 403
    queue = (await client.get(f"{API}/moderation/queue", headers=auth("mod", "moderator"))).json()
    assert [i["post"]["id"] for i in queue["items"]] == [q["id"]]
    assert sorted(f["reason"] for f in queue["items"][0]["flags"]) == ["rude", "spam"]

    hide = f"{API}/moderation/posts/{q['id']}/hide"
    assert (await client.post(hide, headers=auth("bob"), json={"reason": "spam"})).status_code == 403
    r = await client.post(hide, headers=auth("mod", "moderator"), json={"reason": "spam"})
    assert r.status_code == 200 and r.json()["hidden"] is True
    assert (await client.get(f"{API}/questions/{q['id']}")).status_code == 404
    assert (await client.get(f"{API}/questions/{q['id']}", headers=auth("alice"))).json()["hidden"] is True
    assert (await client.get(f"{API}/questions")).json()["items"] == []
    assert (await client.get(f"{API}/moderation/queue", headers=auth("mod", "moderator"))).json()["items"] == []
    hidden = (await client.get(f"{API}/moderation/queue", params={"state": "hidden"},
                               headers=auth("mod", "moderator"))).json()
    assert [i["post"]["id"] for i in hidden["items"]] == [q["id"]]
    r = await client.post(f"{API}/questions/{q['id']}/answers", headers=auth("bob"), json={"body": "x"})
    assert r.status_code == 404  # bob can no longer see it
    r = await client.post(f"{API}/moderation/posts/{q['id']}/unhide", headers=auth("mod", "moderator"))
    assert r.json()["hidden"] is False
    assert (await client.get(f"{API}/questions/{q['id']}")).status_code == 200

    # flags can be raised again after resolution, and dismissed
    assert (await client.post(flag, headers=auth("bob"), json={"reason": "still spam"})).status_code == 201
    r = await client.post(f"{API}/moderation/posts/{q['id']}/dismiss-flags", headers=auth("mod", "moderator"))
    assert r.status_code == 200
    assert (await client.get(f"{API}/moderation/queue", headers=auth("mod", "moderator"))).json()["items"] == []

    events = await read_events(settings.kafka_bootstrap, topics.content, until=lambda es: len(es) >= 7)
    kinds = [e.type for e in events if e.subject == q["id"]]
    assert kinds == ["QuestionAsked", "PostFlagged", "PostFlagged", "PostHidden", "PostUnhidden", "PostFlagged",
                     "FlagsDismissed"]
    assert events[-1].data["dismissed"] == 1 and events[-1].data["moderator_id"] == "mod"
    hidden_event = next(e for e in events if e.type == "PostHidden")
    assert hidden_event.data["moderator_id"] == "mod" and hidden_event.data["reason"] == "spam"
    versions = [e.version for e in events if e.subject == q["id"]]
    assert versions == sorted(set(versions))


async def test_resources(client, auth, settings, topics):
    body = {"url": "https://example.org/slides.pdf", "title": "Meetup slides", "kind": "slides",
            "tags": ["meetup"], "event_id": "ev1"}
    r = await client.post(f"{API}/resources", headers=auth("alice"), json=body)
    assert r.status_code == 201
    res = r.json()
    assert (await client.post(f"{API}/resources", headers=auth("alice"), json={**body, "url": "not a url"})
            ).status_code == 422
    assert (await client.post(f"{API}/resources", headers=auth("alice"), json={**body, "kind": "video-game"})
            ).status_code == 422
    listed = (await client.get(f"{API}/resources", params={"event_id": "ev1"})).json()
    assert [x["id"] for x in listed["items"]] == [res["id"]]
    assert (await client.get(f"{API}/resources", params={"event_id": "other"})).json()["items"] == []
    assert (await client.delete(f"{API}/resources/{res['id']}", headers=auth("bob"))).status_code == 403
    assert (await client.delete(f"{API}/resources/{res['id']}", headers=auth("alice"))).status_code == 204
    assert (await client.get(f"{API}/resources/{res['id']}")).status_code == 404
    events = await read_events(settings.kafka_bootstrap, topics.content, until=lambda es: len(es) >= 2)
    assert [(e.type, e.version) for e in events] == [("ResourceAdded", 1), ("ResourceRemoved", 2)]
    assert events[0].data["event_id"] == "ev1" and events[0].data["author_id"] == "alice"

"""Profiles (public vs own view), roles, follows and SIGs against real MongoDB and Kafka."""

import asyncio

import pytest
from agora_testing.events import read_events

pytestmark = pytest.mark.servers("kafka", "mongo")


async def test_profile_edit_and_public_view_never_shows_email(client, signup, settings):
    ada = await signup("ada@example.com", "Ada")
    r = await client.patch("/api/v1/users/me", headers=ada["headers"], json={
        "bio": "Storage nerd", "company": "Acme", "industry": "Cloud", "city": "Berlin",
        "skills": ["Kubernetes", "ceph", "kubernetes"]})
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["email"] == "ada@example.com" and me["skills"] == ["Kubernetes", "ceph"]

    r = await client.get(f"/api/v1/users/{ada['user']['id']}")
    assert r.status_code == 200
    public = r.json()
    assert public["city"] == "Berlin" and public["display_name"] == "Ada"
    assert "email" not in public and "ada@example.com" not in r.text and "argon2" not in r.text

    r = await client.get("/api/v1/users", params={"ids": [ada["user"]["id"], "nobody"]})
    assert r.status_code == 200 and [u["id"] for u in r.json()] == [ada["user"]["id"]]
    assert "ada@example.com" not in r.text

    events = await read_events(settings.kafka_bootstrap, f"{settings.topic_prefix}users",
                               until=lambda es: any(e.type == "ProfileUpdated" for e in es))
    mine = [e for e in events if e.subject == ada["user"]["id"]]
    assert [e.type for e in mine] == ["UserRegistered", "ProfileUpdated"]
    assert [e.version for e in mine] == [1, 2]


async def test_profile_bad_input(client, signup):
    ada = await signup("ada@example.com", "Ada")
    for body in ({"email": "x@example.com"}, {"roles": ["operator"]}, {"bio": "x" * 2001}, {"display_name": ""},
                 {"display_name": "evil\nname"},
                 {"skills": "not-a-list"}):
        r = await client.patch("/api/v1/users/me", headers=ada["headers"], json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == "invalid_input"
    assert (await client.get("/api/v1/users/unknown-id")).status_code == 404
    assert (await client.get("/api/v1/users/me")).status_code == 401
    me = (await client.get("/api/v1/users/me", headers=ada["headers"])).json()
    assert me["roles"] == ["member"] and me["email"] == "ada@example.com" and me["bio"] is None


async def test_operators_change_roles_and_members_cannot(client, signup, operator_headers):
    ada = await signup("ada@example.com", "Ada")
    bob = await signup("bob@example.com", "Bob")
    url = f"/api/v1/users/{bob['user']['id']}/roles"
    r = await client.put(url, headers=ada["headers"], json={"roles": ["operator"]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await client.put(url, headers=operator_headers, json={"roles": ["moderator"]})
    assert r.status_code == 200 and r.json()["roles"] == ["member", "moderator"]
    r = await client.put(url, headers=operator_headers, json={"roles": ["king"]})
    assert r.status_code == 422
    r = await client.put("/api/v1/users/nobody/roles", headers=operator_headers, json={"roles": ["member"]})
    assert r.status_code == 404
    # the new role is in the tokens from the next refresh on
    r = await client.post("/api/v1/users/auth/refresh", json={"refresh_token": bob["refresh_token"]})
    assert r.json()["user"]["roles"] == ["member", "moderator"]
    verify = await client.get("/api/v1/users/auth/verify",
                              headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert verify.json()["roles"] == ["member", "moderator"]


async def test_follow_members_and_tags(client, signup):
    ada = await signup("ada@example.com", "Ada")
    bob = await signup("bob@example.com", "Bob")
    bob_id = bob["user"]["id"]
    for _ in range(2):  # idempotent
        r = await client.put(f"/api/v1/users/me/following/users/{bob_id}", headers=ada["headers"])
        assert r.status_code == 204
    assert (await client.put("/api/v1/users/me/following/tags/Kubernetes", headers=ada["headers"])).status_code == 204
    assert (await client.put("/api/v1/users/me/following/users/nobody", headers=ada["headers"])).status_code == 404
    r = await client.put(f"/api/v1/users/me/following/users/{ada['user']['id']}", headers=ada["headers"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "self_follow"
    r = await client.get("/api/v1/users/me/following", headers=ada["headers"])
    assert r.json() == {"users": [bob_id], "tags": ["kubernetes"]}
    assert (await client.get(f"/api/v1/users/{bob_id}")).json()["followers"] == 1
    assert (await client.get(f"/api/v1/users/{bob_id}/followers")).json() == [ada["user"]["id"]]
    tag_url = "/api/v1/users/me/following/tags/kubernetes"
    assert (await client.delete(tag_url, headers=ada["headers"])).status_code == 204
    assert (await client.delete(tag_url, headers=ada["headers"])).status_code == 404
    assert (await client.get("/api/v1/users/me/following", headers=ada["headers"])).json()["tags"] == []


async def test_sigs_create_join_leave_and_leads(client, signup, operator_headers, settings, app):
    ada = await signup("ada@example.com", "Ada")
    bob = await signup("bob@example.com", "Bob")
    body = {"name": "Storage", "description": "Volumes, CSI, backups", "tags": ["Storage", "ceph"]}
    r = await client.post("/api/v1/users/sigs", headers=ada["headers"], json=body)
    assert r.status_code == 403
    r = await client.post("/api/v1/users/sigs", headers=operator_headers, json=body)
    assert r.status_code == 201, r.text
    sig = r.json()
    assert sig["id"] and sig["slug"] == "storage" and sig["tags"] == ["ceph", "storage"] and sig["member_count"] == 0
    r = await client.post("/api/v1/users/sigs", headers=operator_headers, json={"name": "storage"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "slug_taken"

    url = f"/api/v1/users/sigs/{sig['id']}/members"
    r = await client.post(url, headers=ada["headers"])
    assert r.status_code == 201 and r.json()["joined"] is True
    r = await client.post(url, headers=ada["headers"])
    assert r.status_code == 200 and r.json()["joined"] is False
    assert (await client.post("/api/v1/users/sigs/nope/members", headers=ada["headers"])).status_code == 404

    r = await client.put(f"/api/v1/users/sigs/{sig['id']}/leads/{bob['user']['id']}", headers=operator_headers)
    assert r.status_code == 200 and r.json()["leads"] == [bob["user"]["id"]] and r.json()["member_count"] == 2

    profile = (await client.get(f"/api/v1/users/{bob['user']['id']}")).json()
    assert profile["sigs"] == [{"id": sig["id"], "name": "Storage", "slug": "storage", "lead": True}]
    assert [m["display_name"] for m in (await client.get(url)).json()] == ["Ada", "Bob"]

    assert (await client.delete(url, headers=ada["headers"])).status_code == 204
    r = await client.delete(url, headers=ada["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_a_member"
    r = await client.get(f"/api/v1/users/sigs/{sig['id']}")
    assert r.json()["member_count"] == 1
    assert [s["id"] for s in (await client.get("/api/v1/users/sigs")).json()] == [sig["id"]]

    events = await read_events(settings.kafka_bootstrap, f"{settings.topic_prefix}users",
                               until=lambda es: sum(e.subject == sig["id"] for e in es) >= 5)
    sig_events = [e for e in events if e.subject == sig["id"]]
    assert [e.type for e in sig_events] == ["SigCreated", "SigJoined", "SigJoined", "SigLeadAssigned", "SigLeft"]
    assert [e.version for e in sig_events] == [1, 2, 3, 4, 5]


async def test_concurrent_joins_count_once(client, signup, operator_headers):
    ada = await signup("ada@example.com", "Ada")
    sig = (await client.post("/api/v1/users/sigs", headers=operator_headers, json={"name": "DevOps"})).json()
    url = f"/api/v1/users/sigs/{sig['id']}/members"
    responses = await asyncio.gather(*(client.post(url, headers=ada["headers"]) for _ in range(3)))
    assert sorted(r.status_code for r in responses) == [200, 200, 201]
    assert (await client.get(f"/api/v1/users/sigs/{sig['id']}")).json()["member_count"] == 1


async def test_many_members_join_one_sig_at_once(client, signup, operator_headers):
    """Regression (tests/e2e/test_found_bugs.py): concurrent joins conflict on the SIG document; all must succeed."""
    members = [await signup(f"m{i}@example.com", f"Member {i}") for i in range(12)]
    sig = (await client.post("/api/v1/users/sigs", headers=operator_headers, json={"name": "Crowd"})).json()
    url = f"/api/v1/users/sigs/{sig['id']}/members"
    responses = await asyncio.gather(*(client.post(url, headers=m["headers"]) for m in members))
    assert [r.status_code for r in responses] == [201] * 12, [r.text for r in responses if r.status_code != 201]
    assert (await client.get(f"/api/v1/users/sigs/{sig['id']}")).json()["member_count"] == 12


async def test_leads_and_operators_remove_members(client, signup, operator_headers, settings):
    lead = await signup("lead@example.com", "Lead")
    ada = await signup("ada@example.com", "Ada")
    bob = await signup("bob@example.com", "Bob")
    sig = (await client.post("/api/v1/users/sigs", headers=operator_headers, json={"name": "Security"})).json()
    members = f"/api/v1/users/sigs/{sig['id']}/members"
    await client.put(f"/api/v1/users/sigs/{sig['id']}/leads/{lead['user']['id']}", headers=operator_headers)
    for m in (ada, bob):
        assert (await client.post(members, headers=m["headers"])).status_code == 201

    r = await client.delete(f"{members}/{bob['user']['id']}", headers=ada["headers"])
    assert r.status_code == 403  # an ordinary member cannot remove another
    assert (await client.delete(f"{members}/{bob['user']['id']}", headers=lead["headers"])).status_code == 204
    assert (await client.delete(f"{members}/{lead['user']['id']}", headers=operator_headers)).status_code == 204
    r = await client.delete(f"{members}/{lead['user']['id']}", headers=operator_headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_a_member"
    sig_now = (await client.get(f"/api/v1/users/sigs/{sig['id']}")).json()
    assert sig_now["leads"] == [] and sig_now["member_count"] == 1

    events = await read_events(settings.kafka_bootstrap, f"{settings.topic_prefix}users",
                               until=lambda es: sum(e.subject == sig["id"] for e in es) >= 8)
    tail = [(e.type, e.version) for e in events if e.subject == sig["id"]][-3:]
    assert tail == [("SigLeft", 6), ("SigLeadRemoved", 7), ("SigLeft", 8)]


async def test_removing_a_lead_who_is_not_one_is_a_404(client, signup, operator_headers):
    ada = await signup("ada@example.com", "Ada")
    sig = (await client.post("/api/v1/users/sigs", headers=operator_headers, json={"name": "Storage"})).json()
    r = await client.delete(f"/api/v1/users/sigs/{sig['id']}/leads/{ada['user']['id']}", headers=operator_headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_a_lead"
    r = await client.delete(f"/api/v1/users/sigs/no-such-sig/leads/{ada['user']['id']}", headers=operator_headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"

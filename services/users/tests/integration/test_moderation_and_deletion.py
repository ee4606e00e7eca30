"""Suspension by moderators and account deletion, with their events."""

from datetime import UTC, datetime, timedelta

import pytest
from agora_common.auth import issue_token
from agora_testing.events import read_events

pytestmark = pytest.mark.servers("kafka", "mongo")

PASSWORD = "correct horse battery"


async def test_suspend_and_reinstate(client, signup, moderator_headers, settings):
    ada = await signup("ada@example.com", "Ada")
    uid = ada["user"]["id"]
    url = f"/api/v1/users/{uid}/suspension"
    until = (datetime.now(UTC) + timedelta(days=7)).isoformat()

    bob = await signup("bob@example.com", "Bob")
    r = await client.post(url, headers=bob["headers"], json={"reason": "spam"})
    assert r.status_code == 403
    r = await client.post(url, headers=moderator_headers, json={"reason": ""})
    assert r.status_code == 422
    r = await client.post(url, headers=moderator_headers,
                          json={"reason": "spam", "until": (datetime.now(UTC) - timedelta(days=1)).isoformat()})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_until"
    r = await client.post(url, headers=moderator_headers, json={"reason": "spam", "until": "9999-12-31T00:00:00Z"})
    assert r.status_code == 422 and "2200-12-31" in r.json()["error"]["details"][0]["message"]
    r = await client.post("/api/v1/users/nobody/suspension", headers=moderator_headers, json={"reason": "spam"})
    assert r.status_code == 404

    r = await client.post(url, headers=moderator_headers, json={"reason": "spam links", "until": until})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "suspended" and r.json()["suspension"]["by"] == "mod-1"
    assert (await client.get(f"/api/v1/users/{uid}")).json()["suspended"] is True

    # the access token still verifies until it expires, but the account cannot add anything meanwhile
    r = await client.patch("/api/v1/users/me", headers=ada["headers"], json={"bio": "buy cheap watches"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "account_suspended"
    r = await client.put("/api/v1/users/me/following/tags/spam", headers=ada["headers"])
    assert r.status_code == 403

    # no new sessions while suspended: login and refresh are refused with the reason's code
    r = await client.post("/api/v1/users/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 403 and r.json()["error"]["code"] == "account_suspended"
    r = await client.post("/api/v1/users/auth/refresh", json={"refresh_token": ada["refresh_token"]})
    assert r.status_code == 401

    r = await client.delete(url, headers=bob["headers"])
    assert r.status_code == 403
    r = await client.delete(url, headers=moderator_headers)
    assert r.status_code == 200 and r.json()["status"] == "active"
    r = await client.delete(url, headers=moderator_headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_suspended"
    r = await client.post("/api/v1/users/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 200

    events = await read_events(settings.kafka_bootstrap, f"{settings.topic_prefix}users",
                               until=lambda es: any(e.type == "UserReinstated" for e in es))
    mine = [(e.type, e.version, e.actor) for e in events if e.subject == uid]
    assert mine == [("UserRegistered", 1, uid), ("UserSuspended", 2, "mod-1"), ("UserReinstated", 3, "mod-1")]


async def test_moderators_cannot_suspend_moderators_or_operators(client, signup, settings, operator_headers):
    mod = await signup("mod@example.com", "Mod")
    other = await signup("other@example.com", "Other mod")
    for user in (mod, other):
        r = await client.put(f"/api/v1/users/{user['user']['id']}/roles", headers=operator_headers,
                             json={"roles": ["moderator"]})
        assert r.status_code == 200
    mod_token = issue_token(settings, user_id=mod["user"]["id"], roles=["member", "moderator"], kind="access")[0]
    headers = {"Authorization": f"Bearer {mod_token}"}
    r = await client.post(f"/api/v1/users/{other['user']['id']}/suspension", headers=headers, json={"reason": "x"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_rank"
    r = await client.post(f"/api/v1/users/{mod['user']['id']}/suspension", headers=headers, json={"reason": "x"})
    assert r.status_code == 403
    # an operator may suspend a moderator
    r = await client.post(f"/api/v1/users/{other['user']['id']}/suspension", headers=operator_headers,
                          json={"reason": "abuse of tools"})
    assert r.status_code == 200


async def test_account_deletion_erases_personal_data(client, signup, operator_headers, settings, app):
    ada = await signup("ada@example.com", "Ada")
    bob = await signup("bob@example.com", "Bob")
    uid = ada["user"]["id"]
    await client.patch("/api/v1/users/me", headers=ada["headers"], json={"company": "Acme", "city": "Oslo"})
    sig = (await client.post("/api/v1/users/sigs", headers=operator_headers, json={"name": "Install"})).json()
    assert (await client.post(f"/api/v1/users/sigs/{sig['id']}/members", headers=ada["headers"])).status_code == 201
    await client.put(f"/api/v1/users/me/following/users/{uid}", headers=bob["headers"])

    assert (await client.delete("/api/v1/users/me")).status_code == 401
    assert (await client.delete("/api/v1/users/me", headers=ada["headers"])).status_code == 204
    assert (await client.delete("/api/v1/users/me", headers=ada["headers"])).status_code == 404

    assert (await client.get(f"/api/v1/users/{uid}")).status_code == 404
    r = await client.post("/api/v1/users/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 401
    r = await client.post("/api/v1/users/auth/refresh", json={"refresh_token": ada["refresh_token"]})
    assert r.status_code == 401
    assert (await client.get(f"/api/v1/users/sigs/{sig['id']}")).json()["member_count"] == 0
    assert (await client.get("/api/v1/users/me/following", headers=bob["headers"])).json()["users"] == []

    tombstone = await app.state.store.db.users.find_one({"_id": uid})
    assert tombstone["status"] == "deleted" and tombstone["email"] is None
    assert "password_hash" not in tombstone and "email_key" not in tombstone and tombstone["company"] is None

    # the address is free again: a new, different account
    again = await signup("ADA@example.com", "Ada again")
    assert again["user"]["id"] != uid

    events = await read_events(settings.kafka_bootstrap, f"{settings.topic_prefix}users",
                               until=lambda es: any(e.type == "UserDeleted" for e in es))
    deleted = [e for e in events if e.type == "UserDeleted"]
    assert len(deleted) == 1 and deleted[0].payload().user_id == uid
    versions = [e.version for e in events if e.subject == uid]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


async def test_directory_lists_suspended_accounts_for_moderators(client, signup, moderator_headers):
    ada = await signup("ada@example.com", "Ada")
    bob = await signup("bob@example.com", "Bob")
    await client.post(f"/api/v1/users/{bob['user']['id']}/suspension", headers=moderator_headers,
                      json={"reason": "spam"})
    r = await client.get("/api/v1/users/directory", params={"status": "suspended"}, headers=moderator_headers)
    assert r.status_code == 200
    assert [(u["id"], u["suspension"]["reason"]) for u in r.json()["items"]] == [(bob["user"]["id"], "spam")]
    assert "@" not in r.text
    page = (await client.get("/api/v1/users/directory", params={"limit": 1}, headers=moderator_headers)).json()
    rest = (await client.get("/api/v1/users/directory", params={"cursor": page["next_cursor"]},
                             headers=moderator_headers)).json()
    assert [u["id"] for u in page["items"] + rest["items"]] == [ada["user"]["id"], bob["user"]["id"]]
    assert rest["next_cursor"] is None
    assert (await client.get("/api/v1/users/directory", headers=ada["headers"])).status_code == 403


async def test_members_export_their_own_data(client, signup, operator_headers):
    ada = await signup("ada@example.com", "Ada")
    bob = await signup("bob@example.com", "Bob")
    await client.patch("/api/v1/users/me", headers=ada["headers"], json={"city": "Oslo"})
    await client.put(f"/api/v1/users/me/following/users/{bob['user']['id']}", headers=ada["headers"])
    await client.post(f"/api/v1/users/{ada['user']['id']}/titles", headers=operator_headers,
                      json={"title": "ambassador", "reason": "meetups"})
    r = await client.get("/api/v1/users/me/export", headers=ada["headers"])
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    data = r.json()
    assert data["account"]["email"] == "ada@example.com" and data["account"]["city"] == "Oslo"
    assert "password_hash" not in data["account"] and "argon2" not in r.text
    assert data["following"]["users"] == [bob["user"]["id"]]
    assert [(e["action"], e["title"], e["reason"]) for e in data["title_history"]] == [
        ("granted", "ambassador", "meetups")]
    assert data["active_sessions"] == 1
    assert (await client.get("/api/v1/users/me/export")).status_code == 401


async def test_operators_filter_the_directory_by_industry_city_skill_and_title(client, signup, operator_headers):
    people = {}
    for name, profile in {"ada": {"industry": "banking", "city": "Shanghai", "skills": ["kubernetes", "go"]},
                          "bob": {"industry": "banking", "city": "Berlin", "skills": ["java"]},
                          "cyd": {"industry": "retail", "city": "shanghai", "skills": ["kubernetes"]}}.items():
        people[name] = await signup(f"{name}@example.com", name.title())
        r = await client.patch("/api/v1/users/me", headers=people[name]["headers"], json=profile)
        assert r.status_code == 200, r.text
    ids = {p["user"]["id"]: name for name, p in people.items()}
    await client.post(f"/api/v1/users/{people['cyd']['user']['id']}/titles", headers=operator_headers,
                      json={"title": "Kubernetes expert"})

    async def listed(**params) -> list[str]:
        r = await client.get("/api/v1/users/directory", params=params, headers=operator_headers)
        assert r.status_code == 200, r.text
        return sorted(ids[u["id"]] for u in r.json()["items"] if u["id"] in ids)

    assert await listed(industry="banking") == ["ada", "bob"]
    assert await listed(city="SHANGHAI") == ["ada", "cyd"]
    assert await listed(skill="kubernetes") == ["ada", "cyd"]
    assert await listed(skill="kubernetes", industry="banking") == ["ada"]
    assert await listed(title="kubernetes-expert") == ["cyd"]  # titles compare without case, spaces or dashes
    page = await client.get("/api/v1/users/directory", params={"industry": "banking", "limit": 1},
                            headers=operator_headers)
    rest = await client.get("/api/v1/users/directory", params={"industry": "banking",
                                                                "cursor": page.json()["next_cursor"]},
                            headers=operator_headers)
    assert [ids[u["id"]] for u in page.json()["items"] + rest.json()["items"]] == ["ada", "bob"]
    unknown = await client.get("/api/v1/users/directory", params={"skills": "go"}, headers=operator_headers)
    assert unknown.status_code == 422 and unknown.json()["error"]["details"]["unknown"] == ["skills"]

"""Operators mark members as the community's experts for a tag: an honor title with a scope ("tag:kubernetes"),
held once per scope, shown on the profile, revoked per scope, published with the scope (HonorTitleGranted v2)."""

import pytest
from agora_testing.events import read_events

pytestmark = pytest.mark.servers("kafka", "mongo")


async def test_scoped_titles_on_the_profile_and_in_the_events(client, signup, operator_headers, settings):
    ada = await signup("ada@example.com", "Ada")
    uid = ada["user"]["id"]
    url = f"/api/v1/users/{uid}/titles"

    r = await client.post(url, headers=operator_headers, json={"title": "Expert", "scope": " tag:Kubernetes ",
                                                              "reason": "40 accepted answers"})
    assert r.status_code == 201, r.text
    assert (r.json()["title"], r.json()["scope"], r.json()["granted_by"]) == ("Expert", "tag:kubernetes", "op-1")
    for body in ({"title": "Expert", "scope": "tag:ceph"}, {"title": "Expert"}):  # other scopes, the whole community
        assert (await client.post(url, headers=operator_headers, json=body)).status_code == 201

    async def refused(status, code, body, headers=operator_headers):
        r = await client.post(url, headers=headers, json=body)
        assert r.status_code == status, r.text
        assert code is None or r.json()["error"]["code"] == code, r.text

    await refused(409, "title_held", {"title": "expert", "scope": "tag:kubernetes"})
    await refused(409, "title_held", {"title": "EXPERT"})
    await refused(403, None, {"title": "Expert", "scope": "tag:go"}, headers=ada["headers"])  # operators only
    for scope in ("sig:storage", "tag:", "tag:-bad", "kubernetes", "tag:" + "x" * 36):
        await refused(422, None, {"title": "Expert", "scope": scope})
    # a retry with the same key answers with the scoped title it granted
    keyed = {**operator_headers, "Idempotency-Key": "k-1"}
    first = await client.post(url, headers=keyed, json={"title": "Mentor", "scope": "tag:go"})
    again = await client.post(url, headers=keyed, json={"title": "Mentor", "scope": "tag:go"})
    assert first.status_code == again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["scope"] == "tag:go"

    profile = (await client.get(f"/api/v1/users/{uid}")).json()
    assert sorted((t["title"], t["scope"] or "") for t in profile["titles"]) == [
        ("Expert", ""), ("Expert", "tag:ceph"), ("Expert", "tag:kubernetes"), ("Mentor", "tag:go")]
    me = (await client.get("/api/v1/users/me", headers=ada["headers"])).json()
    assert {(t["scope"], t["reason"]) for t in me["titles"] if t["scope"] == "tag:kubernetes"} == {
        ("tag:kubernetes", "40 accepted answers")}
    # a member holding a title in several scopes is one holder
    catalogue = {t["title"].casefold(): t["holders"] for t in (await client.get("/api/v1/users/titles")).json()}
    assert catalogue["expert"] == 1 and catalogue["mentor"] == 1

    # revoked per scope: the scoped one only, then the unscoped one only
    r = await client.delete(f"{url}/expert", headers=operator_headers, params={"scope": "tag:Kubernetes"})
    assert r.status_code == 204, r.text
    r = await client.delete(f"{url}/expert", headers=operator_headers, params={"scope": "tag:kubernetes"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "title_not_held"
    assert (await client.delete(f"{url}/expert", headers=operator_headers)).status_code == 204
    r = await client.delete(f"{url}/expert", headers=operator_headers, params={"scope": "nope"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_scope"
    profile = (await client.get(f"/api/v1/users/{uid}")).json()
    assert sorted((t["title"], t["scope"] or "") for t in profile["titles"]) == [("Expert", "tag:ceph"), ("Mentor", "tag:go")]
    audit = (await client.get(f"{url}/audit", headers=operator_headers)).json()
    assert [(a["action"], a["title"], a["scope"]) for a in audit][:2] == [
        ("revoked", "Expert", None), ("revoked", "Expert", "tag:kubernetes")]

    events = await read_events(settings.kafka_bootstrap, f"{settings.topic_prefix}users",
                               until=lambda es: sum(e.type == "HonorTitleRevoked" for e in es) == 2)
    titles = [(e.type, e.schema_version, e.payload().title, e.payload().scope) for e in events
              if e.type.startswith("HonorTitle")]
    assert titles == [("HonorTitleGranted", 2, "Expert", "tag:kubernetes"), ("HonorTitleGranted", 2, "Expert", "tag:ceph"),
                      ("HonorTitleGranted", 2, "Expert", None), ("HonorTitleGranted", 2, "Mentor", "tag:go"),
                      ("HonorTitleRevoked", 2, "Expert", "tag:kubernetes"), ("HonorTitleRevoked", 2, "Expert", None)]

"""Honor titles from operators (with audit trail) and from the points service's events."""


import pytest
from agora_common.events import Envelope
from agora_common.events.points import HonorTitleEarned, HonorTitleLost
from agora_common.kafka import EventPublisher
from agora_testing.events import read_events
from agora_testing.waiting import eventually

pytestmark = pytest.mark.servers("kafka", "mongo")


async def test_operator_grants_and_revokes_with_audit_trail(client, signup, operator_headers, settings):
    ada = await signup("ada@example.com", "Ada")
    uid = ada["user"]["id"]
    url = f"/api/v1/users/{uid}/titles"
    r = await client.post(url, headers=ada["headers"], json={"title": "ambassador", "reason": "me"})
    assert r.status_code == 403
    r = await client.post(url, headers=operator_headers, json={"title": "Talented Speaker", "reason": "KubeCon talk"})
    assert r.status_code == 201, r.text
    assert r.json()["title"] == "Talented Speaker" and r.json()["granted_by"] == "op-1"
    r = await client.post(url, headers=operator_headers, json={"title": "talented_speaker"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "title_held"
    r = await client.post(url, headers=operator_headers, json={"title": "   "})
    assert r.status_code == 422
    r = await client.post("/api/v1/users/nobody/titles", headers=operator_headers, json={"title": "ambassador"})
    assert r.status_code == 404

    profile = (await client.get(f"/api/v1/users/{uid}")).json()
    assert [t["title"] for t in profile["titles"]] == ["Talented Speaker"]
    assert "reason" not in profile["titles"][0]  # the reason is for operators and the member

    r = await client.delete(f"{url}/talented%20speaker", headers=operator_headers, params={"reason": "mistake"})
    assert r.status_code == 204
    r = await client.delete(f"{url}/talented%20speaker", headers=operator_headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "title_not_held"
    assert (await client.get(f"/api/v1/users/{uid}")).json()["titles"] == []

    audit = (await client.get(f"{url}/audit", headers=operator_headers)).json()
    assert [(a["action"], a["by"], a["reason"]) for a in audit] == [
        ("revoked", "op-1", "mistake"), ("granted", "op-1", "KubeCon talk")]
    assert (await client.get(f"{url}/audit", headers=ada["headers"])).status_code == 403

    events = await read_events(settings.kafka_bootstrap, f"{settings.topic_prefix}users",
                               until=lambda es: any(e.type == "HonorTitleRevoked" for e in es))
    titles = [(e.type, e.version) for e in events if e.type.startswith("HonorTitle")]
    assert titles == [("HonorTitleGranted", 2), ("HonorTitleRevoked", 3)]


@pytest.mark.consume
async def test_titles_from_points_events_once_each(client, signup, settings, app):
    ada = await signup("ada@example.com", "Ada")
    uid = ada["user"]["id"]
    earned = Envelope.wrap(HonorTitleEarned(user_id=uid, title="Contributor", threshold=100, total_points=120,
                                            rules_version="v1"), subject=uid, version=7)
    for_nobody = Envelope.wrap(HonorTitleEarned(user_id="ghost", title="Contributor", threshold=100,
                                                total_points=120, rules_version="v1"), subject="ghost", version=1)
    publisher = EventPublisher(settings.kafka_bootstrap)
    points = f"{settings.topic_prefix}points"
    try:
        await publisher.publish_many(points, [for_nobody, earned, earned])  # the same event twice

        async def granted():
            profile = (await client.get(f"/api/v1/users/{uid}")).json()
            assert [(t["title"], t["source"]) for t in profile["titles"]] == [("Contributor", "points")]
            assert await app.state.store.db.processed_events.count_documents({"_id": earned.id}) == 1

        await eventually(granted, timeout=40)
        events = await read_events(settings.kafka_bootstrap, f"{settings.topic_prefix}users",
                                   until=lambda es: any(e.type == "HonorTitleGranted" for e in es))
        grants = [e for e in events if e.type == "HonorTitleGranted"]
        assert len(grants) == 1 and grants[0].payload().granted_by == "points"

        # an operator-granted title is not taken back by points; a points-granted one is
        r = await client.post(f"/api/v1/users/{uid}/titles", json={"title": "Ambassador"}, headers={
            "Authorization": "Bearer " + _operator_token(settings)})
        assert r.status_code == 201
        lost = [Envelope.wrap(HonorTitleLost(user_id=uid, title=t, threshold=100, total_points=90,
                                             rules_version="v1"), subject=uid, version=8) for t in
                ("contributor", "ambassador")]
        await publisher.publish_many(points, lost)

        async def revoked():
            profile = (await client.get(f"/api/v1/users/{uid}")).json()
            assert [t["title"] for t in profile["titles"]] == ["Ambassador"]
            assert await app.state.store.db.processed_events.count_documents({"_id": lost[1].id}) == 1

        await eventually(revoked, timeout=30)
    finally:
        await publisher.stop()
    audit = await app.state.store.db.title_audit.find({"user_id": uid}).sort("at", 1).to_list()
    assert [(a["action"], a["by"], a["source_event"]) for a in audit] == [
        ("granted", "points", earned.id), ("granted", "op-1", None), ("revoked", "points", lost[0].id)]


def _operator_token(settings) -> str:
    from agora_common.auth import issue_token

    return issue_token(settings, user_id="op-1", roles=["operator"], kind="access")[0]


async def test_title_catalogue_counts_holders(client, signup, operator_headers):
    ada = await signup("ada@example.com", "Ada")
    bob = await signup("bob@example.com", "Bob")
    for user, title in ((ada, "Ambassador"), (bob, "ambassador"), (bob, "KubeCon Hero")):
        r = await client.post(f"/api/v1/users/{user['user']['id']}/titles", headers=operator_headers,
                              json={"title": title})
        assert r.status_code == 201
    catalogue = {t["title"].casefold(): (t["holders"], t["built_in"]) for t in
                 (await client.get("/api/v1/users/titles")).json()}
    assert catalogue == {"contributor": (0, True), "member": (0, True), "talented speaker": (0, True),
                         "ambassador": (2, True), "kubecon hero": (1, False)}

"""Idempotency-Key on the users service's creating POSTs (SIGs, honor titles): a retry, even a concurrent one,
answers with what the first request created, marked `Idempotent-Replayed: true`; the same key with another body
is 409 `idempotency_key_reused`."""

import asyncio

import pytest
from agora_common.events import Envelope
from agora_testing.events import read_events

pytestmark = pytest.mark.servers("kafka", "mongo")


def assert_replayed(first, again) -> None:
    assert first.status_code == again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers


async def test_a_retried_sig_creation_makes_one_sig(client, operator_headers, app, settings):
    headers = {**operator_headers, "Idempotency-Key": "sig-1"}
    body = {"name": "Cloud Native Storage", "tags": ["storage"]}
    first = await client.post("/api/v1/users/sigs", headers=headers, json=body)
    again = await client.post("/api/v1/users/sigs", headers=headers, json=body)  # e.g. after a gateway timeout
    assert_replayed(first, again)
    assert again.json()["id"] == first.json()["id"] and again.json()["slug"] == "cloud-native-storage"
    r = await client.post("/api/v1/users/sigs", headers=headers, json={**body, "description": "Ceph"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_reused"
    plain = await client.post("/api/v1/users/sigs", headers=operator_headers, json=body)  # without a key: the rule
    assert plain.status_code == 409 and plain.json()["error"]["code"] == "slug_taken"
    # concurrent duplicates: one SIG
    other = {**operator_headers, "Idempotency-Key": "sig-2"}
    answers = await asyncio.gather(*[client.post("/api/v1/users/sigs", headers=other, json={"name": "Networking"})
                                     for _ in range(4)])
    assert {r.status_code for r in answers} == {201} and len({r.json()["id"] for r in answers}) == 1
    store = app.state.store
    assert await store.db["sigs"].count_documents({}) == 2

    def created(es: list[Envelope]) -> list[Envelope]:
        return [e for e in es if e.type == "SigCreated"]

    events = await read_events(settings.kafka_bootstrap, store.topics.users, until=lambda es: len(created(es)) >= 2)
    assert len(created(events)) == 2


async def test_a_retried_title_grant_answers_the_first_grant(client, signup, operator_headers, app):
    ada = await signup("ada@example.com", "Ada")
    url = f"/api/v1/users/{ada['user']['id']}/titles"
    headers = {**operator_headers, "Idempotency-Key": "title-1"}
    body = {"title": "Talented Speaker", "reason": "KubeCon talk"}
    first = await client.post(url, headers=headers, json=body)
    again = await client.post(url, headers=headers, json=body)
    assert_replayed(first, again)
    assert again.json()["title"] == "Talented Speaker" and again.json()["reason"] == "KubeCon talk"
    r = await client.post(url, headers=headers, json={**body, "reason": "another"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_reused"
    plain = await client.post(url, headers=operator_headers, json=body)  # without a key: the rule
    assert plain.status_code == 409 and plain.json()["error"]["code"] == "title_held"
    audit = (await client.get(f"{url}/audit", headers=operator_headers)).json()
    assert [a["action"] for a in audit] == ["granted"]  # granted once

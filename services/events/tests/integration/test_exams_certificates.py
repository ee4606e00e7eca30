"""Training exams and certificates: grading, pass/fail, the server-side deadline, signed credentials."""

import asyncio
import copy
from datetime import UTC, datetime

import pytest
from agora_events.adapters.signing_key import to_pem
from agora_events.domain import credential
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .conftest import Api, make_settings, serve

pytestmark = pytest.mark.servers("kafka", "mongo")

EXAM = {
    "pass_mark": 60,
    "time_limit_seconds": 600,
    "max_attempts": 2,
    "questions": [
        {"id": "q1", "text": "Which object runs containers?", "options": ["Pod", "Service", "Ingress"],
         "correct": [0]},
        {"id": "q2", "text": "Which are controllers?", "kind": "multiple",
         "options": ["Deployment", "ConfigMap", "StatefulSet"], "correct": [0, 2], "points": 2},
        {"id": "q3", "text": "Default namespace?", "options": ["kube-system", "default"], "correct": [1]},
    ],
}
ALL_RIGHT = {"q1": [0], "q2": [2, 0], "q3": [1]}


async def live_training(api: Api, *attendees: str, exam: dict = EXAM) -> str:
    event = await api.open_event(kind="training", title="CKA crash course", city=None, venue=None)
    eid = event["id"]
    r = await api.client.post(f"/api/v1/events/{eid}/exam", json=exam, **api.op)
    assert r.status_code == 201, r.text
    for a in attendees:
        assert (await api.register(eid, a)).status_code == 201
    await api.act(eid, "start")
    return eid


async def attempt(api: Api, eid: str, user: str) -> dict:
    r = await api.client.post(f"/api/v1/events/{eid}/exam/attempts", **api.as_user(user))
    assert r.status_code == 201, r.text
    return r.json()


async def submit(api: Api, eid: str, user: str, attempt_id: str, answers: dict):
    return await api.client.post(f"/api/v1/events/{eid}/exam/attempts/{attempt_id}/submit",
                                 json={"answers": answers}, **api.as_user(user))


async def test_a_pass_issues_a_certificate_that_verifies(api, db):
    eid = await live_training(api, "alice")
    a = await attempt(api, eid, "alice")
    assert a["pass_mark"] == 60 and {q["id"] for q in a["questions"]} == {"q1", "q2", "q3"}
    assert all("correct" not in q for q in a["questions"])  # answers never leave the server
    r = await submit(api, eid, "alice", a["id"], {"q1": [0], "q2": [0, 2]})  # 3 of 4 points
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["passed"] is True and result["score"] == 75.0 and result["certificate_id"]
    assert result["correct"] == {"q1": True, "q2": True, "q3": False}

    cert = (await api.client.get(f"/api/v1/events/certificates/{result['certificate_id']}")).json()
    assert cert["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert cert["credentialSubject"]["id"] == "urn:agora:user:alice"
    assert cert["credentialSubject"]["achievement"]["name"] == "CKA crash course"
    assert cert["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    issuer = (await api.client.get("/api/v1/events/certificates/issuer")).json()
    assert cert["issuer"]["id"] == issuer["id"] and issuer["id"].startswith("did:key:z6Mk")

    ok = await api.client.post("/api/v1/events/certificates/verify", json=cert)
    assert ok.status_code == 200, ok.text
    assert ok.json()["valid"] is True and ok.json()["user_id"] == "alice" and ok.json()["event_id"] == eid

    again = await api.client.post(f"/api/v1/events/{eid}/exam/attempts", **api.as_user("alice"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_passed"

    got = await api.events(until=lambda es: any(e.type == "CertificateIssued" for e in es))
    passed = next(e for e in got if e.type == "ExamPassed")
    issued = next(e for e in got if e.type == "CertificateIssued")
    assert passed.data["score"] == 75.0 and passed.data["user_id"] == "alice" and passed.data["kind"] == "training"
    assert issued.data["certificate_id"] == result["certificate_id"] and issued.version == passed.version + 1


async def test_altered_and_forged_certificates_are_rejected(api):
    eid = await live_training(api, "bob")
    a = await attempt(api, eid, "bob")
    cert_id = (await submit(api, eid, "bob", a["id"], ALL_RIGHT)).json()["certificate_id"]
    cert = (await api.client.get(f"/api/v1/events/certificates/{cert_id}")).json()

    altered = copy.deepcopy(cert)
    altered["credentialSubject"]["id"] = "urn:agora:user:mallory"
    r = await api.client.post("/api/v1/events/certificates/verify", json=altered)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "credential_invalid"
    assert r.json()["error"]["details"]["reason"] == "bad_signature"

    upgraded = copy.deepcopy(cert)
    upgraded["credentialSubject"]["result"][0]["value"] = "99"
    r = await api.client.post("/api/v1/events/certificates/verify", json=upgraded)
    assert r.status_code == 422 and r.json()["error"]["details"]["reason"] == "bad_signature"

    # forged: a well-formed credential signed with somebody else's key, claiming to be from us or from itself
    forger = Ed25519PrivateKey.generate()
    unsigned = {k: v for k, v in cert.items() if k != "proof"}
    forged = credential.sign(unsigned, forger, created=datetime.now(UTC))
    r = await api.client.post("/api/v1/events/certificates/verify", json=forged)
    assert r.status_code == 422 and r.json()["error"]["details"]["reason"] == "unknown_issuer"
    self_issued = copy.deepcopy(unsigned)
    self_issued["issuer"]["id"] = credential.did_key(forger.public_key())
    forged = credential.sign(self_issued, forger, created=datetime.now(UTC))
    r = await api.client.post("/api/v1/events/certificates/verify", json=forged)
    assert r.status_code == 422 and r.json()["error"]["details"]["reason"] == "unknown_issuer"

    # a signature copied onto a made-up certificate id
    invented = copy.deepcopy(cert)
    invented["id"] = "urn:uuid:00000000-0000-7000-8000-000000000000"
    r = await api.client.post("/api/v1/events/certificates/verify", json=invented)
    assert r.status_code == 422

    for junk in ({}, {"proof": "x"}, {"proof": {"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022"}}):
        r = await api.client.post("/api/v1/events/certificates/verify", json=junk)
        assert r.status_code == 422, junk
    r = await api.client.post("/api/v1/events/certificates/verify", content=b"[1, 2]",
                              headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert (await api.client.get("/api/v1/events/certificates/nope")).status_code == 404


async def test_a_fail_gives_no_certificate_and_attempts_are_limited(api, db):
    eid = await live_training(api, "carol")
    a = await attempt(api, eid, "carol")
    r = await submit(api, eid, "carol", a["id"], {"q1": [1], "q2": [0]})  # 0 points
    assert r.status_code == 200 and r.json()["passed"] is False and r.json()["score"] == 0
    assert r.json()["certificate_id"] is None
    twice = await submit(api, eid, "carol", a["id"], ALL_RIGHT)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "attempt_closed"
    b = await attempt(api, eid, "carol")
    in_progress = await api.client.post(f"/api/v1/events/{eid}/exam/attempts", **api.as_user("carol"))
    assert in_progress.status_code == 409 and in_progress.json()["error"]["code"] == "attempt_in_progress"
    assert (await submit(api, eid, "carol", b["id"], {"q3": [1]})).json()["passed"] is False
    none_left = await api.client.post(f"/api/v1/events/{eid}/exam/attempts", **api.as_user("carol"))
    assert none_left.status_code == 409 and none_left.json()["error"]["code"] == "no_attempts_left"
    assert await db.certificates.count_documents({}) == 0
    got = await api.events(until=lambda es: sum(e.type == "ExamFailed" for e in es) >= 2)
    assert not any(e.type in ("ExamPassed", "CertificateIssued") for e in got)


async def test_the_deadline_is_the_servers(agora_env):
    settings = make_settings(agora_env, exam_grace_seconds=0)
    async with serve(settings) as api:
        eid = await live_training(api, "dave", exam={**EXAM, "time_limit_seconds": 1})
        a = await attempt(api, eid, "dave")
        await asyncio.sleep(1.3)
        r = await submit(api, eid, "dave", a["id"], ALL_RIGHT)
        assert r.status_code == 409 and r.json()["error"]["code"] == "attempt_expired"
        again = await submit(api, eid, "dave", a["id"], ALL_RIGHT)
        assert again.status_code == 409 and again.json()["error"]["code"] == "attempt_closed"
        assert "expired" in again.json()["error"]["message"]
        # the expired attempt used one of the two; after the second, none is left
        await attempt(api, eid, "dave")
        await asyncio.sleep(1.3)
        r = await api.client.post(f"/api/v1/events/{eid}/exam/attempts", **api.as_user("dave"))
        assert r.status_code == 409 and r.json()["error"]["code"] == "no_attempts_left"


async def test_exam_rules_and_bad_answers(api, db):
    eid = await live_training(api, "erin")
    outsider = await api.client.post(f"/api/v1/events/{eid}/exam/attempts", **api.as_user("stranger"))
    assert outsider.status_code == 403
    a = await attempt(api, eid, "erin")
    for answers in ({"q9": [0]}, {"q1": [7]}, {"q1": [0, 1]}):
        r = await submit(api, eid, "erin", a["id"], answers)
        assert r.status_code == 422, answers
    bad_type = await api.client.post(f"/api/v1/events/{eid}/exam/attempts/{a['id']}/submit",
                                     json={"answers": {"q1": "zero"}}, **api.as_user("erin"))
    assert bad_type.status_code == 422
    attempt_doc = await db.attempts.find_one({"_id": a["id"]})
    assert attempt_doc["status"] == "in_progress"  # nothing half-written: still open, ungraded
    other = await submit(api, eid, "frank", a["id"], ALL_RIGHT)
    assert other.status_code == 404  # somebody else's attempt
    # the exam cannot change under people taking it
    r = await api.client.post(f"/api/v1/events/{eid}/exam", json=EXAM, **api.op)
    assert r.status_code == 409 and r.json()["error"]["code"] == "exam_in_use"


@pytest.mark.parametrize("exam, fragment", [
    ({**EXAM, "pass_mark": 101}, "pass_mark"),
    ({**EXAM, "questions": []}, "questions"),
    ({**EXAM, "questions": [{"text": "?", "options": ["a", "b"], "correct": [5]}]}, "out of range"),
    ({**EXAM, "questions": [{"text": "?", "options": ["a", "b"], "correct": [0, 1]}]}, "exactly one"),
    ({**EXAM, "questions": [{"text": "?", "options": ["a"], "correct": [0]}]}, "options"),
    ({**EXAM, "questions_per_attempt": 9}, "questions_per_attempt"),
    ({**EXAM, "questions": [{"id": "q2", "text": "?", "options": ["a", "b"], "correct": [0]},
                            {"text": "?", "options": ["a", "b"], "correct": [0]}]}, "unique"),
])
async def test_bad_exams_are_rejected(api, db, exam, fragment):
    event = await api.open_event(kind="training", title="T", city=None, venue=None)
    r = await api.client.post(f"/api/v1/events/{event['id']}/exam", json=exam, **api.op)
    assert r.status_code == 422 and fragment in r.text, r.text
    assert await db.exams.count_documents({}) == 0


async def test_exams_only_for_trainings(api):
    event = await api.open_event()
    r = await api.client.post(f"/api/v1/events/{event['id']}/exam", json=EXAM, **api.op)
    assert r.status_code == 409 and r.json()["error"]["code"] == "wrong_kind"


async def test_configured_signing_key_is_used(agora_env):
    key = Ed25519PrivateKey.generate()
    settings = make_settings(agora_env, cert_signing_key=to_pem(key))
    async with serve(settings) as api:
        issuer = (await api.client.get("/api/v1/events/certificates/issuer")).json()
    assert issuer["id"] == credential.did_key(key.public_key())


async def test_a_revoked_certificate_no_longer_verifies(api):
    eid = await live_training(api, "gina")
    a = await attempt(api, eid, "gina")
    cert_id = (await submit(api, eid, "gina", a["id"], ALL_RIGHT)).json()["certificate_id"]
    cert = (await api.client.get(f"/api/v1/events/certificates/{cert_id}")).json()
    assert (await api.client.post("/api/v1/events/certificates/verify", json=cert)).status_code == 200
    member = await api.client.post(f"/api/v1/events/certificates/{cert_id}/revoke", **api.as_user("gina"))
    assert member.status_code == 403
    r = await api.client.post(f"/api/v1/events/certificates/{cert_id}/revoke", json={"reason": "exam fraud"},
                              **api.op)
    assert r.status_code == 200 and r.json()["revoked"] is True
    again = await api.client.post(f"/api/v1/events/certificates/{cert_id}/revoke", **api.op)
    assert again.status_code == 409
    r = await api.client.post("/api/v1/events/certificates/verify", json=cert)
    assert r.status_code == 422 and r.json()["error"]["details"]["reason"] == "revoked"
    got = await api.events(until=lambda es: any(e.type == "CertificateRevoked" for e in es))
    revoked = next(e for e in got if e.type == "CertificateRevoked")
    assert revoked.data["certificate_id"] == cert_id and revoked.data["user_id"] == "gina"
    assert revoked.data["reason"] == "exam fraud" and revoked.data["kind"] == "training"

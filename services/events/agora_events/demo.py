"""Demo events for `make run`, loaded through the gateway like a real client would.

The platform demo loader (agora_devservers.demo) can call `load_demo_events(api, op_h, members, sig_ids)`; members are dicts with
"id", "name" and "h" (their auth headers), sig_ids maps SIG slugs to ids. Returns how many events it created.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

EXAM = {
    "pass_mark": 60, "time_limit_seconds": 1800, "max_attempts": 3,
    "questions": [
        {"id": "pods", "text": "Which object runs containers?", "options": ["Pod", "Service", "Ingress"],
         "correct": [0]},
        {"id": "controllers", "text": "Which of these are workload controllers?", "kind": "multiple",
         "options": ["Deployment", "ConfigMap", "StatefulSet"], "correct": [0, 2], "points": 2},
        {"id": "ns", "text": "Kubernetes 的默认命名空间是？", "options": ["kube-system", "default"], "correct": [1]},
    ],
}


def _ok(r: httpx.Response) -> Any:
    if r.status_code not in (200, 201):
        raise RuntimeError(f"{r.request.method} {r.request.url.path} -> {r.status_code}: {r.text[:300]}")
    return r.json()


def load_demo_events(api: httpx.Client, op_h: dict, members: list[dict], sig_ids: dict[str, str]) -> int:
    base = "/api/v1/events"
    soon = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=7)
    sig = next(iter(sig_ids.values()), None)

    def create(**body) -> str:
        return _ok(api.post(base, headers=op_h, json={"sig_id": sig, **body}))["id"]

    def act(eid: str, *actions: str) -> None:
        for action in actions:
            _ok(api.post(f"{base}/{eid}/{action}", headers=op_h))

    created = 0
    series = _ok(api.post(f"{base}/series", headers=op_h, json={
        "title": "KubeSphere Live", "description": "Every week: a maintainer demos a feature and takes questions.",
        "first_starts_at": soon.isoformat(), "duration_minutes": 60, "occurrences": 4, "capacity": 200,
        "tags": ["kubernetes", "live"], "sig_id": sig, "stream_url": "https://live.agora.example.org/kubesphere"}))
    _ok(api.post(f"{base}/series/{series['id']}/publish", headers=op_h))
    act(series["event_ids"][0], "open-registration")
    for m in members[:6]:
        _ok(api.post(f"{base}/{series['event_ids'][0]}/registrations", headers=m["h"]))
    created += len(series["event_ids"])

    meetup = create(kind="meetup", title="上海 Kubernetes Meetup", city="上海", venue="张江创新园 3 号楼",
                    starts_at=(soon + timedelta(days=3)).isoformat(), capacity=5, tags=["kubernetes", "meetup"],
                    agenda=[{"title": "KubeSphere 4.0 新特性"}, {"title": "Lightning talks"}])
    speaker = members[0]
    _ok(api.post(f"{base}/{meetup}/speakers", headers=op_h,
                 json={"user_id": speaker["id"], "name": speaker["name"], "talk_title": "KubeSphere 4.0 新特性"}))
    act(meetup, "publish", "open-registration")
    _ok(api.post(f"{base}/{meetup}/speakers/{speaker['id']}/confirm", headers=speaker["h"]))
    for m in members[1:9]:  # 8 for 5 places: 3 on the waitlist
        _ok(api.post(f"{base}/{meetup}/registrations", headers=m["h"]))
    created += 1

    training = create(kind="training", title="CKA preparation", description="Two hours of hands-on practice.",
                      starts_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat(), capacity=30,
                      tags=["kubernetes", "certification"])
    _ok(api.post(f"{base}/{training}/exam", headers=op_h, json=EXAM))
    act(training, "publish", "open-registration")
    for m in members[:4]:
        _ok(api.post(f"{base}/{training}/registrations", headers=m["h"]))
    act(training, "start")
    for m, answers in ((members[0], {"pods": [0], "controllers": [0, 2], "ns": [1]}), (members[1], {"pods": [1]})):
        attempt = _ok(api.post(f"{base}/{training}/exam/attempts", headers=m["h"]))
        _ok(api.post(f"{base}/{training}/exam/attempts/{attempt['id']}/submit", headers=m["h"],
                     json={"answers": {q: a for q, a in answers.items()
                                       if q in {x['id'] for x in attempt['questions']}}}))
    created += 1

    for body in (
        {"kind": "qa_session", "title": "Ask the storage maintainers", "topic": "CSI and storage classes",
         "tags": ["storage"]},
        {"kind": "peer_exchange", "title": "Platform teams in finance", "industry": "Finance", "tags": ["finance"]},
        {"kind": "competition", "title": "Operator hackathon", "tags": ["hackathon"],
         "judges": [members[-1]["id"]], "submission_deadline": (soon + timedelta(days=20)).isoformat()},
    ):
        eid = create(starts_at=(soon + timedelta(days=10)).isoformat(), **body)
        act(eid, "publish", "open-registration")
        created += 1
    return created

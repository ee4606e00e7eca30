"""The demo community `make run` loads through the gateway, as real clients would: SIGs, members, questions,
answers and articles in English and Chinese, votes, accepted answers, a few community events, and what operators
do with them: a group with an announcement, replies and a survey, and an online Q&A session taking questions."""

import contextlib
import ipaddress
import random
import socket
import time
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt
from tqdm import tqdm

DEMO_PASSWORD = "demo-password-123"

SIGS = [
    ("Installation & Deployment", "installation", ["install", "kubernetes"]),
    ("Architecture", "architecture", ["architecture", "microservices"]),
    ("DevOps", "devops", ["devops", "ci-cd"]),
]

MEMBERS = [
    ("Li Wei", "Shanghai", "Finance"), ("王芳", "北京", "互联网"), ("Zhang Min", "Shenzhen", "Manufacturing"),
    ("Chen Jing", "Hangzhou", "Retail"), ("Maria Garcia", "Madrid", "Telecom"), ("John Smith", "London", "Banking"),
    ("刘洋", "成都", "政府"), ("Anna Müller", "Berlin", "Automotive"), ("Priya Patel", "Bangalore", "IT services"),
    ("Yuki Tanaka", "Tokyo", "Gaming"), ("赵磊", "广州", "物流"), ("Sam Lee", "Singapore", "Energy"),
]

QUESTIONS = [
    ("如何在 Kubernetes 上安装 KubeSphere 并配置存储？", "我在三台虚拟机上安装了 Kubernetes 1.29，安装 KubeSphere 时 PVC 一直 Pending，应该如何配置默认存储类？",
     ["kubesphere", "storage", "install"], "installation",
     ["先安装 OpenEBS LocalPV，然后把它设为默认 StorageClass：kubectl patch storageclass ...",
      "如果是生产环境，建议使用 Ceph RBD 或者云厂商的 CSI 驱动。"]),
    ("How do I size etcd for a 200-node cluster?", "Our control plane gets slow above 150 nodes. What disk and memory should etcd get?",
     ["etcd", "kubernetes", "performance"], "architecture",
     ["Use dedicated SSDs with low fsync latency (under 10 ms p99) and 8 GB of memory; watch wal_fsync_duration.",
      "Split events into a separate etcd cluster with --etcd-servers-overrides."]),
    ("GitLab CI 流水线如何部署到多个集群？", "我们有测试、预发、生产三个集群，想在一条流水线里按环境部署。",
     ["ci-cd", "gitlab", "devops"], "devops",
     ["为每个集群创建一个 kubeconfig 变量，用 environment 和 rules 控制部署阶段。"]),
    ("Which service mesh should we choose for 50 microservices?", "Istio or Linkerd? We care about mTLS and latency.",
     ["service-mesh", "microservices"], "architecture",
     ["Linkerd has lower latency overhead and simpler operations; Istio has more traffic features.",
      "Start without a mesh: mTLS can come from cert-manager and your ingress."]),
    ("Prometheus 告警规则怎么做单元测试？", "修改告警规则后经常误报，有没有办法在合并前测试？",
     ["prometheus", "monitoring"], "devops",
     ["用 promtool test rules，给每条告警写 input_series 和 exp_alerts，放进 CI。"]),
    ("Air-gapped installation: how to mirror the images?", "Our data centre has no internet access.",
     ["install", "offline"], "installation", []),
]

ARTICLES = [
    ("Zero-downtime upgrades of a production cluster", ("A field report: drain nodes one by one, keep PDBs tight, "
     "and upgrade the control plane before the workers."), ["kubernetes", "upgrade"]),
    ("可观测性实践：从指标到告警", "本文介绍我们如何用 Prometheus 与 Grafana 建设可观测性体系，以及如何减少告警噪音。",
     ["prometheus", "monitoring"]),
    ("Designing multi-tenant platforms", ("Namespaces, quotas and network policies are the building blocks of "
     "tenant isolation; here is how we combine them."), ["architecture", "multi-tenancy"]),
]


class PoliteClient(httpx.Client):
    """A client that keeps to the gateway's rate limits, as any well-behaved client should: a 429 waits for as long
    as its `Retry-After` says, then the request is sent again (the loader seeds through the public API, so a
    second `make run` on a warm, fast machine hits the sign-up limit)."""

    def request(self, *args: Any, **kwargs: Any) -> httpx.Response:
        return _RATE_LIMITED(super().request, *args, **kwargs)


def _retry_after(state: RetryCallState) -> float:
    response = state.outcome.result() if state.outcome is not None else None
    header = response.headers.get("Retry-After", "1") if response is not None else "1"
    return float(header) if header.replace(".", "", 1).isdigit() else 1.0


_RATE_LIMITED = Retrying(
    retry=retry_if_result(lambda r: r.status_code == 429), wait=_retry_after, stop=stop_after_attempt(60),
    retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,  # the caller sees the 429
)


def _ok(r: httpx.Response, *codes: int) -> dict[str, Any]:
    if r.status_code not in (codes or (200, 201)):
        raise RuntimeError(f"{r.request.method} {r.request.url.path} -> {r.status_code}: {r.text[:300]}")
    return r.json() if r.content else {}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def member_address(index: int) -> str:
    """The loopback source address of demo member `index` (all of 127.0.0.0/8 reaches a gateway on 127.0.0.1 on
    Linux; the end-to-end tests' simulated clients use 127.0.1.1 onwards the same way, tests/e2e/helpers.py)."""
    return f"127.0.{100 + index // 250}.{1 + index % 250}"


def _member_client(api: PoliteClient, index: int) -> contextlib.AbstractContextManager[httpx.Client]:
    """The client demo member `index` signs up and signs in with: one of its own, from `member_address(index)`, as
    separate people would. The gateway limits sign-up and sign-in per client address (30 a minute, burst 10) and
    every member makes two such requests, so from one address the loader would wait out the limit for ~25 s.
    Falls back to the shared `api` (which waits politely) when the gateway is not on a loopback IPv4 address or the
    member's address cannot be bound (macOS only configures 127.0.0.1)."""
    address = member_address(index)
    try:
        gateway = ipaddress.ip_address(api.base_url.host)
        if gateway.version != 4 or not gateway.is_loopback:
            return contextlib.nullcontext(api)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((address, 0))
    except (ValueError, OSError):  # the gateway is named by a host name; the address is not configured here
        return contextlib.nullcontext(api)
    return PoliteClient(base_url=api.base_url, timeout=api.timeout, transport=httpx.HTTPTransport(local_address=address))


def load_demo(gateway_url: str, *, operator_email: str, operator_password: str, seed: int = 7) -> str:
    rng = random.Random(seed)
    with PoliteClient(base_url=gateway_url, timeout=30) as api:
        op = _ok(api.post("/api/v1/users/auth/login", json={"email": operator_email, "password": operator_password}))
        op_h = _auth(op["access_token"])

        steps = tqdm(total=len(SIGS) + len(MEMBERS) + len(QUESTIONS) + len(ARTICLES) + 2, desc="demo", unit="step",
                     leave=False)
        sig_ids = {}
        for name, slug, tags in SIGS:
            created = _ok(api.post("/api/v1/users/sigs", headers=op_h,
                                   json={"name": name, "slug": slug, "tags": tags, "description": f"The {name} SIG"}))
            sig_ids[slug] = created["id"]
            steps.update()

        members = []
        for i, (name, city, industry) in enumerate(MEMBERS):
            email = f"member{i + 1}@demo.agora.example.org"
            with _member_client(api, i) as own:
                # registration answers 202 either way (it never tells whether the email had an account): sign in next
                _ok(own.post("/api/v1/users/auth/register",
                             json={"email": email, "password": DEMO_PASSWORD, "display_name": name}), 202)
                body = _ok(own.post("/api/v1/users/auth/login", json={"email": email, "password": DEMO_PASSWORD}))
                h = _auth(body["access_token"])
                own.patch("/api/v1/users/me", headers=h, json={"city": city, "industry": industry})
                for slug in rng.sample(sorted(sig_ids), 2):
                    own.post(f"/api/v1/users/sigs/{sig_ids[slug]}/members", headers=h)
            members.append({"id": body["user"]["id"], "name": name, "h": h})
            steps.update()

        answers_posted = votes = accepted = 0
        unanswered = []
        for title, text, tags, sig, replies in QUESTIONS:
            asker = rng.choice(members)
            q = _ok(api.post("/api/v1/content/questions", headers=asker["h"],
                             json={"title": title, "body": text, "tags": tags, "sig_id": sig_ids[sig]}))
            answer_ids = []
            if not replies:
                unanswered.append((q["id"], asker["id"]))
            for reply in replies:
                author = rng.choice([m for m in members if m is not asker])
                a = _ok(api.post(f"/api/v1/content/questions/{q['id']}/answers", headers=author["h"], json={"body": reply}))
                answer_ids.append((a["id"], author))
                answers_posted += 1
            for answer_id, author in answer_ids:
                for voter in rng.sample([m for m in members if m is not author], 3):
                    api.put(f"/api/v1/content/posts/{answer_id}/vote", headers=voter["h"], json={"value": 1})
                    votes += 1
            if answer_ids:
                _ok(api.post(f"/api/v1/content/questions/{q['id']}/accept", headers=asker["h"],
                             json={"answer_id": answer_ids[0][0]}))
                accepted += 1
            steps.update()

        for title, text, tags in ARTICLES:
            author = rng.choice(members)
            art = _ok(api.post("/api/v1/content/articles", headers=author["h"], json={"title": title, "body": text, "tags": tags}))
            _ok(api.post(f"/api/v1/content/articles/{art['id']}/publish", headers=author["h"]))
            steps.update()

        events = _load_events(api, op_h, members, sig_ids)
        steps.update()
        operator_tools = _load_operator_tools(api, op_h, members, sig_ids, unanswered)
        steps.update()
        steps.close()
    return (f"{len(SIGS)} SIGs, {len(MEMBERS)} members, {len(QUESTIONS)} questions, {answers_posted} answers, "
            f"{accepted} accepted, {votes} votes, {len(ARTICLES)} articles, {events} events, {operator_tools}")


def _load_events(api: httpx.Client, op_h: dict, members: list[dict], sig_ids: dict[str, str]) -> int:
    """A weekly live stream, a meetup with few places (some members waitlisted), a training with an exam and one
    event of every other kind; the events service keeps its own demo script next to its API."""
    from agora_events.demo import load_demo_events

    return load_demo_events(api, op_h, members, sig_ids)


def _load_operator_tools(api: httpx.Client, op_h: dict, members: list[dict], sig_ids: dict[str, str],
                         unanswered: list[tuple[str, str]]) -> str:
    """The DevOps SIG as a group: an announcement with two replies and a survey with answers; an online Q&A session
    (published) with a question sent ahead of it; an expert for a tag, invited to answer an unanswered question;
    follows and a search that found nothing, for the demand report."""
    group = _ok(api.post("/api/v1/users/groups", headers=op_h, json={
        "name": "DevOps SIG", "description": "everyone in the DevOps SIG", "filter": {"sig_id": sig_ids["devops"]}}))
    in_group = {m["user_id"] for m in _ok(api.get(f"/api/v1/users/groups/{group['id']}/members", headers=op_h))["items"]}
    audience = [m for m in members if m["id"] in in_group]
    sent = _ok(api.post(f"/api/v1/users/groups/{group['id']}/announcements", headers=op_h, json={
        "title": "CI/CD peer exchange next month", "body": "What should we cover? Reply here, or answer the survey."}))
    for member, reply in zip(audience, ["Multi-cluster rollouts, please.", "多集群灰度发布和回滚。"], strict=False):
        _ok(api.post(f"/api/v1/users/announcements/{sent['id']}/replies", headers=member["h"], json={"body": reply}))
    survey = _ok(api.post("/api/v1/users/surveys", headers=op_h, json={
        "title": "CI/CD peer exchange", "anonymous": True, "questions": [
            {"kind": "single_choice", "text": "Which format suits you?", "options": ["Online", "In person"]},
            {"kind": "scale", "text": "How useful was the last exchange?", "min": 1, "max": 5},
            {"kind": "free_text", "text": "Topics you want"}]}))
    _ok(api.post(f"/api/v1/users/surveys/{survey['id']}/send", headers=op_h, json={"group_id": group["id"]}))
    for i, member in enumerate(audience[:3]):
        _ok(api.post(f"/api/v1/users/surveys/{survey['id']}/responses", headers=member["h"],
                     json={"answers": {"q1": "o1" if i % 2 == 0 else "o2", "q2": 4 + i % 2}}), 201)

    session = _ok(api.post("/api/v1/events", headers=op_h, json={
        "kind": "qa_session", "title": "Ask the installer maintainers", "topic": "Installing KubeSphere offline",
        "starts_at": "2030-03-05T12:00:00Z", "ends_at": "2030-03-05T13:00:00Z", "online": True,
        "tags": ["install", "offline"]}))
    _ok(api.post(f"/api/v1/events/{session['id']}/publish", headers=op_h))
    question = {"title": "Can the offline installer mirror Helm charts too?", "body": "Sent ahead of the session.",
                "tags": ["install", "offline"], "event_id": session["id"]}
    for _ in range(40):  # content learns the session from the events topic, a moment after it is published
        r = api.post("/api/v1/content/questions", headers=members[0]["h"], json=question)
        if r.status_code != 404:
            _ok(r, 201)
            break
        time.sleep(0.25)

    expert = next(m for m in members[1:] if m["id"] not in {asker for _, asker in unanswered})
    _ok(api.post(f"/api/v1/users/{expert['id']}/titles", headers=op_h, json={"title": "Expert", "scope": "tag:install"}),
        201)
    for question_id, _ in unanswered:
        _ok(api.post(f"/api/v1/content/questions/{question_id}/invitations", headers=op_h,
                     json={"user_id": expert["id"], "note": "You maintain the installer: could you take this one?"}),
            201)
    for member in members[:4]:
        api.put("/api/v1/users/me/following/tags/offline", headers=member["h"])
    api.get("/api/v1/search", headers=members[2]["h"], params={"q": "harbor replication across regions"})
    return (f"1 group, 1 announcement, {len(audience[:2])} replies, 1 survey, 1 Q&A session, 1 tag expert, "
            f"{len(unanswered)} invitation(s)")

"""The demo community `make run` loads through the gateway, as real clients would: SIGs, members, questions,
answers and articles in English and Chinese, votes, accepted answers and a few community events."""

import random
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


def load_demo(gateway_url: str, *, operator_email: str, operator_password: str, seed: int = 7) -> str:
    rng = random.Random(seed)
    with PoliteClient(base_url=gateway_url, timeout=30) as api:
        op = _ok(api.post("/api/v1/users/auth/login", json={"email": operator_email, "password": operator_password}))
        op_h = _auth(op["access_token"])

        steps = tqdm(total=len(SIGS) + len(MEMBERS) + len(QUESTIONS) + len(ARTICLES) + 1, desc="demo", unit="step",
                     leave=False)
        sig_ids = {}
        for name, slug, tags in SIGS:
            created = _ok(api.post("/api/v1/users/sigs", headers=op_h,
                                   json={"name": name, "slug": slug, "tags": tags, "description": f"The {name} SIG"}))
            sig_ids[slug] = created["id"]
            steps.update()

        members = []
        for i, (name, city, industry) in enumerate(MEMBERS):
            body = _ok(api.post("/api/v1/users/auth/register",
                                json={"email": f"member{i + 1}@demo.agora.example.org", "password": DEMO_PASSWORD,
                                      "display_name": name}))
            h = _auth(body["access_token"])
            api.patch("/api/v1/users/me", headers=h, json={"city": city, "industry": industry})
            for slug in rng.sample(sorted(sig_ids), 2):
                api.post(f"/api/v1/users/sigs/{sig_ids[slug]}/members", headers=h)
            members.append({"id": body["user"]["id"], "name": name, "h": h})
            steps.update()

        answers_posted = votes = accepted = 0
        for title, text, tags, sig, replies in QUESTIONS:
            asker = rng.choice(members)
            q = _ok(api.post("/api/v1/content/questions", headers=asker["h"],
                             json={"title": title, "body": text, "tags": tags, "sig_id": sig_ids[sig]}))
            answer_ids = []
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
        steps.close()
    return (f"{len(SIGS)} SIGs, {len(MEMBERS)} members, {len(QUESTIONS)} questions, {answers_posted} answers, "
            f"{accepted} accepted, {votes} votes, {len(ARTICLES)} articles, {events} events")


def _load_events(api: httpx.Client, op_h: dict, members: list[dict], sig_ids: dict[str, str]) -> int:
    """A weekly live stream, a meetup with few places (some members waitlisted), a training with an exam and one
    event of every other kind; the events service keeps its own demo script next to its API."""
    from agora_events.demo import load_demo_events

    return load_demo_events(api, op_h, members, sig_ids)

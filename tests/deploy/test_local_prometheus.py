"""The local Prometheus (make run) for real: Debian's binary, the project's rules, a real scrape target."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from agora_devservers import free_port
from agora_devservers.prometheus import REPO_ROOT, start_prometheus

DASHBOARD = REPO_ROOT / "deploy" / "helm" / "agora" / "files" / "grafana" / "agora-overview.json"

METRICS = b"""# HELP http_requests_total Total number of requests by method, status and handler.
# TYPE http_requests_total counter
http_requests_total{handler="/api/v1/users/me",method="GET",status="200"} 7.0
"""


class _Metrics(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(METRICS if self.path == "/metrics" else b"")

    def log_message(self, *args):
        pass


@pytest.fixture
def metrics_target():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _query(url: str, promql: str) -> list:
    return httpx.get(f"{url}/api/v1/query", params={"query": promql}).json()["data"]["result"]


def test_scrapes_every_target_with_its_service_label_and_loads_the_alert_rules(metrics_target, tmp_path):
    down = f"127.0.0.1:{free_port()}"
    prom = start_prometheus(targets={"users": metrics_target, "content": down}, port=free_port(), log_dir=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            health = {t["labels"]["agora_service"]: t["health"]
                      for t in httpx.get(f"{prom.url}/api/v1/targets").json()["data"]["activeTargets"]
                      if t["labels"]["job"] == "agora"}
            if health == {"users": "up", "content": "down"} or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert health == {"users": "up", "content": "down"}
        sample = _query(prom.url, 'http_requests_total{agora_service="users"}')
        assert sample and sample[0]["value"][1] == "7"
        assert _query(prom.url, 'up{agora_service="content"}')[0]["value"][1] == "0"

        groups = httpx.get(f"{prom.url}/api/v1/rules").json()["data"]["groups"]
        alerts = {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
        assert {"AgoraServiceDown", "AgoraHighErrorRate", "AgoraHighLatencyP99", "AgoraKafkaConsumerLagHigh",
                "AgoraPointsProcessingLag", "AgoraSearchIndexingLag"} <= alerts
        # the down target is already a pending AgoraServiceDown alert
        deadline = time.monotonic() + 30
        while True:
            pending = [a for a in httpx.get(f"{prom.url}/api/v1/alerts").json()["data"]["alerts"]
                       if a["labels"]["alertname"] == "AgoraServiceDown"]
            if pending or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert [a["labels"]["agora_service"] for a in pending] == ["content"]

        # every query of the Grafana dashboard parses and runs on this Prometheus
        dashboard = json.loads(DASHBOARD.read_text())
        exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        assert len(exprs) >= 15
        for expr in exprs:
            resp = httpx.get(f"{prom.url}/api/v1/query", params={"query": expr.replace("$service", ".*")})
            assert resp.status_code == 200 and resp.json()["status"] == "success", (expr, resp.text)
    finally:
        prom.stop()
    assert prom.proc.poll() is not None

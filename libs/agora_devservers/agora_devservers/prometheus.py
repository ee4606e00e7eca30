"""A local Prometheus for `make run`: Debian's prometheus binary scraping every service with Agora's alert rules
(the same file the chart ships as a PrometheusRule: deploy/prometheus/rules/agora-rules.yml)."""

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from agora_devservers.servers import EmbeddedServer, wait_for_port

REPO_ROOT = Path(__file__).resolve().parents[3]
RULES_DIR = REPO_ROOT / "deploy" / "prometheus" / "rules"


def prometheus_binary() -> str:
    exe = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(exe).exists():
        raise RuntimeError("prometheus is not installed: run scripts/install-system-packages.sh")
    return exe


def scrape_config(targets: dict[str, str], *, interval: str = "5s", rules_dir: Path = RULES_DIR) -> dict:
    """Prometheus configuration: one `agora` job, each target labelled `agora_service=<name>` like the chart's
    ServiceMonitor does, so the rules and dashboards work unchanged."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval,
                   "external_labels": {"environment": "local"}},
        "rule_files": [str(p.resolve()) for p in sorted(rules_dir.glob("*.yml"))],
        "scrape_configs": [
            {
                "job_name": "agora",
                "metrics_path": "/metrics",
                "static_configs": [
                    {"targets": [address], "labels": {"agora_service": name}} for name, address in targets.items()
                ],
            },
            {"job_name": "prometheus", "static_configs": [{"targets": ["__SELF__"]}]},
        ],
    }


def start_prometheus(*, targets: dict[str, str], port: int, log_dir: Path) -> EmbeddedServer:
    """Start Prometheus on 127.0.0.1:`port`, scraping `targets` (service name -> "host:port", /metrics).

    Data lives in a fresh run dir removed on stop; the log goes to `log_dir`/prometheus.log.
    """
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="agora-prometheus-"))
    config = scrape_config(targets)
    config["scrape_configs"][1]["static_configs"][0]["targets"] = [f"127.0.0.1:{port}"]
    config_path = run_dir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    log_path = log_dir / "prometheus.log"
    command = [
        prometheus_binary(),
        f"--config.file={config_path}",
        f"--storage.tsdb.path={run_dir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",  # POST /-/reload after editing the rules
        "--storage.tsdb.retention.time=1d",
        "--log.format=json",
    ]
    with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, proc=proc, timeout=30)
        deadline = time.monotonic() + 30
        while True:  # the port opens before the rules are loaded
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prometheus did not become ready; see {log_path}")
            time.sleep(0.1)
    except Exception:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return EmbeddedServer("prometheus", url, port, proc, log_path, cleanup_dirs=[run_dir])

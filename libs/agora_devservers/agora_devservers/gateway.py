"""The API gateway for local runs and tests: Debian's nginx with deploy/gateway/nginx.conf.template.

nginx runs as its own process with its own prefix, pid, temp dirs and logs under a fresh run dir (never the
system nginx). The combined OpenAPI document is merged from every service's /openapi.json at start-up and
served as a static file, next to Swagger UI vendored from the `swagger-ui-bundle-v2` package.
"""

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from agora_devservers.openapi_merge import merge_openapi
from agora_devservers.servers import EmbeddedServer, wait_for_port

log = logging.getLogger(__name__)

SERVICES = ("users", "content", "events", "points", "search")
REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = REPO_ROOT / "deploy" / "gateway" / "nginx.conf.template"
DOCS_INDEX = REPO_ROOT / "deploy" / "gateway" / "docs-index.html"
DEFAULT_RATE_PER_SECOND = 50
_PLACEHOLDER = re.compile(r"__[A-Z][A-Z0-9_]*__")


def nginx_binary() -> str:
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(exe):
        raise RuntimeError("nginx is not installed: run scripts/install-system-packages.sh")
    return exe


def swagger_ui_dir() -> Path:
    import swagger_ui_bundle  # from swagger-ui-bundle-v2: Swagger UI 5 (reads OpenAPI 3.1)

    return Path(swagger_ui_bundle.swagger_ui_path)


def render_config(values: dict[str, str], template: Path = TEMPLATE) -> str:
    """Replace every __PLACEHOLDER__ in the template; a placeholder left without a value is an error."""
    text = template.read_text()
    for key, value in values.items():
        text = text.replace(f"__{key}__", str(value))
    left = sorted(set(_PLACEHOLDER.findall(text)))
    if left:
        raise ValueError(f"gateway template placeholders without a value: {', '.join(left)}")
    return text


# --- combined OpenAPI ----------------------------------------------------------------------------------

def fetch_openapi(port: int, *, host: str = "127.0.0.1", timeout: float = 10.0) -> dict | None:
    """The service's /openapi.json, retried until `timeout` (services may still be starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            resp = httpx.get(f"http://{host}:{port}/openapi.json", timeout=2.0)
            if resp.status_code == 200:
                return resp.json()
        except (httpx.HTTPError, ValueError):
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.2)


def build_combined_openapi(upstreams: dict[str, int], *, timeout: float = 10.0) -> dict:
    """Fetch /openapi.json from each service (name -> local port) and merge them; absent services are listed.

    The services are asked in parallel, so the whole call waits at most about `timeout` seconds."""
    with ThreadPoolExecutor(max_workers=max(1, len(upstreams))) as pool:
        documents = pool.map(lambda port: fetch_openapi(port, timeout=timeout), upstreams.values())
        fetched = dict(zip(upstreams, documents, strict=True))
    missing = [name for name, doc in fetched.items() if doc is None]
    for name in missing:
        log.warning("gateway: no OpenAPI document from %s on port %s", name, upstreams[name])
    return merge_openapi({name: doc for name, doc in fetched.items() if doc is not None}, missing=missing)


def refresh_openapi(gateway: EmbeddedServer, upstreams: dict[str, int], *, timeout: float = 10.0) -> dict:
    """Rebuild the combined document a running gateway serves (e.g. after a service restarted with new routes)."""
    doc = build_combined_openapi(upstreams, timeout=timeout)
    target = gateway.cleanup_dirs[0] / "static" / "openapi.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(target)  # atomic: nginx never serves half a file
    return doc


# --- nginx -------------------------------------------------------------------------------------------

def start_gateway(
    *,
    upstreams: dict[str, int],
    port: int,
    log_dir: Path,
    rate_per_second: int = DEFAULT_RATE_PER_SECOND,
    burst: int | None = None,
    auth_rate_per_minute: int = 30,
    auth_burst: int = 10,
    max_body_size: str = "10m",
    read_timeout: str = "30s",
    cors_origin_regex: str = ".*",
    openapi_timeout: float = 10.0,
    template: Path = TEMPLATE,
) -> EmbeddedServer:
    """Start nginx on 127.0.0.1:`port` routing /api/v1/<name> to 127.0.0.1:<upstreams[name]>.

    Limits per client address: `rate_per_second` (+ `burst`) everywhere, and `auth_rate_per_minute`
    (+ `auth_burst`) on login, registration and token refresh. `upstreams` maps service name to local port; every one of users, content, events, points and search must
    be given (a service not running yet only gets JSON 502s). Logs: `log_dir`/gateway-access.log (one JSON
    object per request, with request_id) and gateway-error.log. `template`: another nginx template (tests).
    """
    burst = burst if burst is not None else rate_per_second
    if min(rate_per_second, burst, auth_rate_per_minute, auth_burst) < 1:
        raise ValueError("rates and bursts must be at least 1")
    unknown = set(upstreams) - set(SERVICES)
    absent = set(SERVICES) - set(upstreams)
    if unknown or absent:
        raise ValueError(f"upstreams must name exactly {SERVICES}; unknown {sorted(unknown)}, absent {sorted(absent)}")
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="agora-gateway-"))
    run_dir.chmod(0o755)  # nginx workers (www-data when started as root) read the static files here
    static = run_dir / "static"
    (static / "docs").mkdir(parents=True)
    for asset in swagger_ui_dir().iterdir():
        if asset.suffix in (".js", ".css", ".png") and not asset.name.startswith("swagger-initializer"):
            (static / "docs" / asset.name).symlink_to(asset)
    shutil.copy(DOCS_INDEX, static / "docs" / "index.html")
    openapi = build_combined_openapi(upstreams, timeout=openapi_timeout)
    (static / "openapi.json").write_text(json.dumps(openapi))

    conf = render_config({
        "WORKER_PROCESSES": "1",
        "RUN_DIR": str(run_dir),
        "ERROR_LOG": str(log_dir / "gateway-error.log"),
        "ACCESS_LOG": str(log_dir / "gateway-access.log"),
        "REAL_IP_CONFIG": "",
        "CORS_ORIGIN_REGEX": cors_origin_regex,
        "RATE_PER_SECOND": str(rate_per_second),
        "BURST": str(burst),
        "AUTH_RATE_PER_MINUTE": str(auth_rate_per_minute),
        "AUTH_BURST": str(auth_burst),
        "MAX_BODY_SIZE": max_body_size,
        "CONNECT_TIMEOUT": "5s",
        "READ_TIMEOUT": read_timeout,
        "LISTEN": f"127.0.0.1:{port}",
        "STATIC_DIR": str(static),
        **{f"UPSTREAM_{name.upper()}": f"127.0.0.1:{upstreams[name]}" for name in SERVICES},
    }, template)
    conf_path = run_dir / "nginx.conf"
    conf_path.write_text(conf)
    base = [nginx_binary(), "-p", str(run_dir), "-c", str(conf_path), "-e", str(log_dir / "gateway-error.log")]
    check = subprocess.run([*base, "-t", "-q"], check=False, capture_output=True, text=True)
    if check.returncode != 0:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise RuntimeError(f"nginx rejected the gateway config: {check.stderr.strip()}")
    with open(log_dir / "gateway-error.log", "ab") as err:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [*base, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
    try:
        wait_for_port(port, proc=proc, timeout=15)
    except Exception:
        proc.kill()
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    # SIGTERM to the master is nginx's fast shutdown; it stops its workers too.
    return EmbeddedServer(
        "gateway", f"http://127.0.0.1:{port}", port, proc, log_dir / "gateway-access.log", cleanup_dirs=[run_dir]
    )

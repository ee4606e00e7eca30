"""The whole platform on one machine: embedded servers, every service, the gateway and Prometheus.

`make run` calls `python -m agora_devservers.stack`: it starts everything on the default local ports, loads
the demo community through the gateway, prints the URLs and stops everything cleanly on Ctrl-C.
The end-to-end tests use `Stack` on free ports.
"""

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agora_devservers.servers import (
    EmbeddedServer,
    free_port,
    start_elasticsearch,
    start_kafka,
    start_mongo,
    start_redis,
    wait_for_http,
    wait_for_port,
)

DEFAULT_PORTS = {
    "kafka": 9092, "mongo": 27017, "elasticsearch": 9200, "redis": 6379,
    "users": 8001, "content": 8002, "events": 8003, "points": 8004, "search": 8005,
    "gateway": 8080, "prometheus": 9090,
}
HTTP_SERVICES = ("users", "content", "events", "points", "search")
# uvicorn closes an idle keep-alive connection after this many seconds; the gateway must close its own first (its
# upstream keepalive_timeout is shorter), else a request can go out on a connection being closed: a 502.
UVICORN_KEEP_ALIVE_S = 5


@dataclass
class Process:
    """A service process started by the stack."""

    name: str
    argv: list[str]
    port: int | None = None
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL, for crash tests: no clean shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def service_processes(ports: dict[str, int]) -> list[Process]:
    """What runs for each service: its FastAPI app under uvicorn. The points service is one worker of its
    partitioned stream processor, in the same process as its query API (they share the state); here it is the
    only worker, so it holds every partition."""
    py = sys.executable
    return [
        Process(name, [py, "-m", "uvicorn", "--factory", f"agora_{name}.main:create_app",
                       "--host", "127.0.0.1", "--port", str(ports[name]), "--no-access-log",
                       "--timeout-keep-alive", str(UVICORN_KEEP_ALIVE_S)], ports[name])
        for name in HTTP_SERVICES
    ]


def tail(path: Path | None, lines: int = 30) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Stack:
    run_dir: Path
    ports: dict[str, int]
    say: Callable[[str], None] = print
    servers: dict[str, EmbeddedServer] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    operator_email: str = "operator@agora.example.org"
    operator_password: str = "operator-password-123"
    topic_prefix: str = "agora."
    db_prefix: str = "agora_"
    with_prometheus: bool = True
    # servers already running elsewhere (name -> url), e.g. given by the test fixtures: not started here
    external: dict[str, str] = field(default_factory=dict)

    @classmethod
    def on_free_ports(cls, run_dir: Path, **kw) -> "Stack":
        return cls(run_dir=run_dir, ports={k: free_port() for k in DEFAULT_PORTS}, **kw)

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def env_for(self, name: str) -> dict[str, str]:
        base = name.split("-")[0]
        env = dict(os.environ)
        env.update({
            "AGORA_SERVICE_NAME": base,
            "AGORA_KAFKA_BOOTSTRAP": self.servers["kafka"].url,
            "AGORA_MONGO_URL": self.servers["mongo"].url,
            "AGORA_MONGO_DB": f"{self.db_prefix}{base}",  # each service owns its own database
            "AGORA_ELASTICSEARCH_URL": self.servers["elasticsearch"].url,
            "AGORA_REDIS_URL": self.servers["redis"].url,
            "AGORA_TOPIC_PREFIX": self.topic_prefix,
            "AGORA_JWT_SECRET": self.jwt_secret,
            "AGORA_BOOTSTRAP_OPERATOR_EMAIL": self.operator_email,
            "AGORA_BOOTSTRAP_OPERATOR_PASSWORD": self.operator_password,
            "AGORA_POINTS_ADVERTISED_URL": f"http://127.0.0.1:{self.ports['points']}",
            # consumer lag asked of the broker every 2 s (production: 15 s): local dashboards and the end-to-end
            # tests' "all consumers caught up" checks see it move at once
            "AGORA_CONSUMER_LAG_INTERVAL_S": "2",
            "PYTHONUNBUFFERED": "1",
        })
        return env

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> "Stack":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_servers()
            for process in service_processes(self.ports):
                self.start_process(process)
            for name in HTTP_SERVICES:
                self.wait_ready(name)
            self._start_gateway()
            if self.with_prometheus:
                self._start_prometheus()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_servers(self) -> None:
        for name, starter in (("kafka", start_kafka), ("mongo", start_mongo), ("elasticsearch", start_elasticsearch),
                              ("redis", start_redis)):
            if name in self.external:
                self.servers[name] = EmbeddedServer(name, self.external[name], 0)  # not ours: stop() is a no-op
                continue
            t = time.monotonic()
            self.servers[name] = starter(port=self.ports[name], log_dir=self.log_dir)
            self.say(f"  ✓ {name:<14} {self.servers[name].url}  ({time.monotonic() - t:.1f}s)")

    def start_process(self, process: Process) -> Process:
        process.log_path = self.log_dir / f"{process.name}.log"
        with open(process.log_path, "ab") as log:
            process.proc = subprocess.Popen(
                process.argv, env=self.env_for(process.name), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl-C reaches the stack, which stops it cleanly
            )
        self.processes[process.name] = process
        return process

    def restart_process(self, name: str, *, kill: bool = False) -> Process:
        old = self.processes[name]
        old.kill() if kill else old.stop()
        new = self.start_process(Process(old.name, old.argv, old.port))
        if new.port:
            self.wait_ready(name)
        return new

    def wait_ready(self, name: str, timeout: float = 90.0) -> None:
        process = self.processes[name]
        t = time.monotonic()
        try:
            wait_for_http(f"{self.service_url(name)}/readyz", timeout=timeout, interval=0.2, proc=process.proc)
        except (RuntimeError, TimeoutError) as exc:
            raise type(exc)(f"{name}: {exc}; log tail:\n{tail(process.log_path)}") from None
        self.say(f"  ✓ {name:<14} {self.service_url(name)}  ({time.monotonic() - t:.1f}s)")

    def _start_gateway(self) -> None:
        from agora_devservers.gateway import start_gateway

        self.servers["gateway"] = start_gateway(
            upstreams={name: self.ports[name] for name in HTTP_SERVICES},
            port=self.ports["gateway"],
            log_dir=self.log_dir,
        )
        self.say(f"  ✓ {'gateway':<14} {self.gateway_url}")

    def _start_prometheus(self) -> None:
        from agora_devservers.prometheus import start_prometheus

        targets = {name: f"127.0.0.1:{self.ports[name]}" for name in HTTP_SERVICES}
        self.servers["prometheus"] = start_prometheus(targets=targets, port=self.ports["prometheus"], log_dir=self.log_dir)
        self.say(f"  ✓ {'prometheus':<14} http://127.0.0.1:{self.ports['prometheus']}")

    def stop(self) -> None:
        for name in ("prometheus", "gateway"):
            if server := self.servers.pop(name, None):
                server.stop()
        for process in reversed(list(self.processes.values())):
            process.stop()
        self.processes.clear()
        for name in reversed(list(self.servers)):  # the embedded servers, last started first
            self.servers.pop(name).stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the whole Agora platform locally with demo data.")
    parser.add_argument("--no-demo", action="store_true", help="do not load the demo community")
    parser.add_argument("--run-dir", type=Path, default=None, help="logs and data (default: a fresh temp dir)")
    parser.add_argument("--free-ports", action="store_true", help="use free ports instead of the default ones")
    args = parser.parse_args(argv)

    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="agora-run-"))
    ports = {k: free_port() for k in DEFAULT_PORTS} if args.free_ports else dict(DEFAULT_PORTS)
    busy = [f"{k}:{p}" for k, p in ports.items() if _port_busy(p)]
    if busy:
        print(f"these ports are in use: {', '.join(busy)} — stop what uses them, or pass --free-ports", file=sys.stderr)
        return 2

    stack = Stack(run_dir=run_dir, ports=ports)
    print(f"Starting Agora (logs in {stack.log_dir})")
    interrupted = False

    def _interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        stack.start()
        if not args.no_demo:
            from agora_devservers.demo import load_demo

            print("Loading the demo community through the gateway…")
            summary = load_demo(stack.gateway_url, operator_email=stack.operator_email,
                                operator_password=stack.operator_password)
            print(f"  ✓ demo data: {summary}")
        g = stack.gateway_url
        demo_line = "" if args.no_demo else '\n  Demo members           password "demo-password-123" (see agora_devservers/demo.py)'
        print(f"""
Agora is running.
  Gateway (all APIs)     {g}/api/v1/...
  API docs (combined)    {g}/docs
  Per-service docs       {', '.join(f'{stack.service_url(n)}/docs' for n in HTTP_SERVICES)}
  Prometheus             http://127.0.0.1:{ports['prometheus']}
  Operator login         {stack.operator_email} / {stack.operator_password}{demo_line}
  Logs                   {stack.log_dir}
Press Ctrl-C to stop.""")
        while True:
            for p in stack.processes.values():
                if p.proc is not None and p.proc.poll() is not None:
                    raise RuntimeError(f"{p.name} exited ({p.proc.returncode}); log tail:\n{tail(p.log_path)}")
            time.sleep(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        print("\nStopping Agora…")
        stack.stop()
        print("Stopped.")
    return 0 if interrupted else 1


def _port_busy(port: int) -> bool:
    try:
        wait_for_port(port, timeout=0.05)
        return True
    except (TimeoutError, RuntimeError):
        return False


if __name__ == "__main__":
    sys.exit(main())

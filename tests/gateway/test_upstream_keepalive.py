"""Idle keep-alive connections between the gateway and the services (issue 15: one 502 on `POST /events/{id}/cancel`
under the fuzz, upstream time 0.000 s, nothing in the service log).

nginx kept idle upstream connections for 60 s (its default `keepalive_timeout`) while uvicorn closes them after
5 s (`--timeout-keep-alive`). A request that nginx sends on a connection uvicorn is just closing is reset before the
service reads it: nginx answers 502 at once ("recv() failed (104: Connection reset by peer) while reading response
header from upstream"; `proxy_next_upstream off`, so no retry) and the service logs nothing. The gateway now closes
idle upstream connections first (its upstream `keepalive_timeout` is shorter than uvicorn's, set wherever uvicorn
starts). The race needs a request at the very moment uvicorn closes; a service whose event loop is busy (CPU work,
or two CPUs shared by the whole platform, as under the fuzz) widens that moment to the length of a loop turn.
"""

import asyncio
import json
import re
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import uvicorn
from agora_devservers import free_port, wait_for_port
from agora_devservers.gateway import TEMPLATE, start_gateway
from agora_devservers.stack import UVICORN_KEEP_ALIVE_S, service_processes
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("users", "content", "events", "points", "search")
NGINX_DEFAULT_KEEPALIVE_TIMEOUT = 60.0
LOOP_TURN_S = 0.05  # how long the busy upstream's event loop is blocked at a time
CONNECTIONS = 4  # concurrent requests per service and round: as many idle upstream connections reused at once
# when the next requests leave after an idle gap of uvicorn's timeout plus these offsets (seconds; one round each),
# the old configuration gets 502s: uvicorn closes a connection at the timeout, within a loop turn of its own
ROUNDS = ((-0.01, 0.01, 0.03, 0.05, 0.07), (0.06, 0.04, 0.02, 0.0, -0.02))


def nginx_seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(ms|s|m)?", value).groups()
    return int(number) * {"ms": 0.001, "s": 1, None: 1, "m": 60}[unit]


def upstream_keepalive_timeouts(conf: str) -> dict[str, float]:
    """Each upstream block's idle keep-alive timeout (nginx's default when the block does not set one)."""
    found = {}
    for name, body in re.findall(r"upstream agora_(\w+) \{([^}]*)\}", conf):
        setting = re.search(r"keepalive_timeout\s+(\w+);", body)
        found[name] = nginx_seconds(setting.group(1)) if setting else NGINX_DEFAULT_KEEPALIVE_TIMEOUT
    return found


def uvicorn_keep_alive(argv: list[str]) -> float:
    """uvicorn's idle keep-alive timeout in a command line (its default, 5 s, when not given)."""
    for i, arg in enumerate(argv):
        if arg.startswith("--timeout-keep-alive="):
            return float(arg.split("=", 1)[1])
        if arg == "--timeout-keep-alive":
            return float(argv[i + 1])
    return 5.0


def test_the_gateway_drops_idle_upstream_connections_before_uvicorn_does_wherever_it_starts():
    gateway = upstream_keepalive_timeouts(TEMPLATE.read_text())
    assert set(gateway) == set(SERVICES)
    local = [uvicorn_keep_alive(p.argv) for p in service_processes(dict.fromkeys(SERVICES, 8000))]
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    images = [uvicorn_keep_alive(json.loads(cmd)) for cmd in re.findall(r'^CMD (\["uvicorn".*\])$', dockerfile, re.M)]
    assert len(local) == len(images) == len(SERVICES)
    assert set(local) == set(images) == {UVICORN_KEEP_ALIVE_S}  # set explicitly, the same everywhere
    # a margin, not just "less": the gateway's clock starts once it has read the response, uvicorn's a little earlier
    assert max(gateway.values()) + 1 <= UVICORN_KEEP_ALIVE_S
    # (the chart's commands: tests/deploy/test_chart.py)


class BusyUpstreams:
    """The five services as uvicorn apps with the platform's keep-alive timeout, on one event loop that a task
    keeps blocking LOOP_TURN_S at a time (a service under load)."""

    def __init__(self) -> None:
        self.ports = {name: free_port() for name in SERVICES}
        self.received: Counter = Counter()
        self._servers = [
            uvicorn.Server(uvicorn.Config(self._app(name), host="127.0.0.1", port=port, log_level="warning",
                                          timeout_keep_alive=UVICORN_KEEP_ALIVE_S))
            for name, port in self.ports.items()
        ]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),), daemon=True)
        self._busy = True

    def _app(self, name: str) -> FastAPI:
        app = FastAPI()

        @app.post(f"/api/v1/{name}/things/{{thing_id}}/cancel")
        async def cancel(thing_id: str) -> dict:
            self.received[name] += 1
            return {"id": thing_id, "status": "cancelled"}

        return app

    async def _serve(self) -> None:
        async def busy() -> None:
            while self._busy:
                time.sleep(LOOP_TURN_S)  # noqa: ASYNC251 - blocks the loop on purpose: I/O waits for the next turn
                await asyncio.sleep(0)

        task = asyncio.ensure_future(busy())
        await asyncio.gather(*(server.serve() for server in self._servers))
        await task

    def __enter__(self) -> "BusyUpstreams":
        self._thread.start()
        for port in self.ports.values():
            wait_for_port(port, timeout=30)
        return self

    def __exit__(self, *exc) -> None:
        self._busy = False
        for server in self._servers:
            server.should_exit = True
        self._thread.join(timeout=15)


async def requests_after_idle_gaps(base_url: str, rounds=ROUNDS) -> Counter:
    """Per service (concurrently): CONNECTIONS requests at once, then after each idle gap (uvicorn's keep-alive
    timeout + an offset) CONNECTIONS again, on the connections nginx kept. Returns the statuses."""
    statuses: Counter = Counter()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:

        async def burst(service: str) -> float:
            responses = await asyncio.gather(*(client.post(f"/api/v1/{service}/things/t{i}/cancel")
                                               for i in range(CONNECTIONS)))
            statuses.update(r.status_code for r in responses)
            return time.monotonic()

        async def one_service(index: int, service: str) -> None:
            done = await burst(service)
            for offsets in rounds:
                await asyncio.sleep(max(0.0, done + UVICORN_KEEP_ALIVE_S + offsets[index] - time.monotonic()))
                done = await burst(service)

        await asyncio.gather(*(one_service(i, s) for i, s in enumerate(SERVICES)))
    return statuses


def without_upstream_keepalive_timeout(tmp_path: Path) -> Path:
    """The gateway template as it was before the fix: nginx's default idle timeout (60 s) for upstream connections."""
    text, changed = re.subn(r"(upstream agora_\w+ \{[^}]*?)\s*keepalive_timeout [^;]+;", r"\1", TEMPLATE.read_text())
    assert changed == len(SERVICES)
    path = tmp_path / "nginx-before-the-fix.conf.template"
    path.write_text(text)
    return path


def test_no_502_on_requests_after_idle_gaps_around_the_services_keep_alive_timeout(tmp_path):
    """Real nginx with the project's template in front of busy uvicorn apps; the same traffic through the template
    without the upstream keepalive_timeout (the control) shows the race is really exercised. ~15 s."""
    with BusyUpstreams() as upstreams:
        gateways = {
            label: start_gateway(upstreams=upstreams.ports, port=free_port(), log_dir=tmp_path / label,
                                 rate_per_second=10_000, template=template)
            for label, template in (("fixed", TEMPLATE), ("before", without_upstream_keepalive_timeout(tmp_path)))
        }
        try:
            async def both() -> list[Counter]:
                return await asyncio.gather(*(requests_after_idle_gaps(g.url) for g in gateways.values()))

            fixed, before = asyncio.run(both())
        finally:
            for g in gateways.values():
                g.stop()
    sent = CONNECTIONS * len(SERVICES) * (1 + len(ROUNDS))
    assert sum(fixed.values()) == sum(before.values()) == sent
    errors = (tmp_path / "fixed" / "gateway-error.log").read_text()
    assert fixed == {200: sent}, f"{fixed}\n{errors}"
    assert before[502] > 0, f"the control got no 502 ({before}): the test no longer reproduces the race"
    # the services never saw the requests that got those 502s (as in the fuzz: nothing in the service log)
    assert sum(upstreams.received.values()) == 2 * sent - before[502]
    print(f"after idle gaps around {UVICORN_KEEP_ALIVE_S}s: fixed {dict(fixed)}, before the fix {dict(before)}")

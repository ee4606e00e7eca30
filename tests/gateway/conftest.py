"""Tiny real upstream apps for the gateway tests: one FastAPI app per service name, served by uvicorn on free
loopback ports (in a background thread of the test process). They stand in for the Agora services, which
the gateway treats as opaque HTTP servers."""

import asyncio
import threading

import pytest
import uvicorn
from agora_devservers import free_port, wait_for_port
from agora_devservers.gateway import start_gateway
from fastapi import FastAPI, Header, Request, Response
from pydantic import create_model

GOOD_TOKEN = "good-token"


def make_app(service: str, seen: list[dict]) -> FastAPI:
    app = FastAPI(title=f"fake {service}")

    # The same schema name in every service, with a different shape: the merger must keep them apart.
    Item = create_model("Item", **{f"{service}_field": (str, ...)})

    @app.get(f"/api/v1/{service}/items/{{item_id}}", response_model=Item, summary=f"Get a {service} item")
    async def get_item(item_id: str):
        return {f"{service}_field": item_id}

    @app.api_route(f"/api/v1/{service}", methods=["GET"], include_in_schema=False)
    @app.api_route(f"/api/v1/{service}/echo", methods=["GET", "POST"], include_in_schema=False)
    async def echo(request: Request) -> dict:
        body = await request.body()
        record = {
            "service": service,
            "path": request.url.path,
            "query": request.url.query,
            "headers": dict(request.headers),
            "body_length": len(body),
        }
        seen.append(record)
        return record

    @app.get(f"/api/v1/{service}/slow")
    async def slow(seconds: float = 3.0) -> dict:
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    @app.get(f"/api/v1/{service}/teapot")
    async def teapot() -> Response:
        # A service's own error response must reach the client untouched.
        return Response('{"error":{"code":"teapot","message":"service said so"}}', 418, media_type="application/json")

    if service == "users":
        @app.post("/api/v1/users/auth/login", include_in_schema=False)
        async def login() -> dict:
            return {"access_token": "t"}

        @app.get("/api/v1/users/auth/verify", include_in_schema=False)
        async def verify(authorization: str | None = Header(default=None)) -> Response:
            seen.append({"service": "users", "path": "/api/v1/users/auth/verify", "headers": {"authorization": authorization}})
            if authorization == f"Bearer {GOOD_TOKEN}":
                return Response(status_code=200, headers={"X-User-Id": "u-1"})
            return Response('{"error":{"code":"unauthorized","message":"bad token"}}', 401, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


class Upstreams:
    """Five uvicorn servers on one event loop in a daemon thread; `seen[name]` records each request."""

    def __init__(self, names=("users", "content", "events", "points", "search")) -> None:
        self.good_token = GOOD_TOKEN
        self.seen: dict[str, list[dict]] = {n: [] for n in names}
        self.ports = {n: free_port() for n in names}
        self._servers = [
            uvicorn.Server(uvicorn.Config(make_app(n, self.seen[n]), host="127.0.0.1", port=p, log_level="warning"))
            for n, p in self.ports.items()
        ]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(asyncio.gather(*(s.serve() for s in self._servers)))

    def start(self) -> "Upstreams":
        self._thread.start()
        for port in self.ports.values():
            wait_for_port(port, timeout=30)
        return self

    def stop(self) -> None:
        for s in self._servers:
            s.should_exit = True
        self._thread.join(timeout=10)



@pytest.fixture(scope="module")
def upstreams():
    ups = Upstreams().start()
    yield ups
    ups.stop()


@pytest.fixture(scope="module")
def gateway(upstreams, tmp_path_factory):
    """A gateway with generous limits, a small body limit and a short upstream timeout."""
    log_dir = tmp_path_factory.mktemp("gateway-logs")
    gw = start_gateway(
        upstreams=upstreams.ports, port=free_port(), log_dir=log_dir, rate_per_second=1000,
        auth_rate_per_minute=6, auth_burst=2, max_body_size="64k", read_timeout="1s",
    )
    gw.log_dir = log_dir
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def strict_gateway(upstreams, tmp_path_factory):
    """A gateway with a tiny rate limit and one allowed CORS origin."""
    gw = start_gateway(
        upstreams=upstreams.ports, port=free_port(), log_dir=tmp_path_factory.mktemp("strict-logs"),
        rate_per_second=1, burst=1, cors_origin_regex=r"^https://app\.agora\.example$",
    )
    yield gw
    gw.stop()

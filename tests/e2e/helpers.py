"""Client-side helpers for end-to-end tests: what a client of the public API would do."""

import time
import uuid
from typing import Any

import httpx


def register(gateway: httpx.Client, name: str) -> dict[str, Any]:
    """Register a member and sign in (registration answers 202 without tokens: it never tells whether the email
    had an account); returns {"id", "email", "token", "headers"}."""
    email = f"{name.lower().replace(' ', '.')}.{uuid.uuid4().hex[:6]}@example.org"
    r = gateway.post("/api/v1/users/auth/register",
                     json={"email": email, "password": "correct-horse-battery", "display_name": name})
    assert r.status_code == 202, r.text
    r = gateway.post("/api/v1/users/auth/login", json={"email": email, "password": "correct-horse-battery"})
    assert r.status_code == 200, r.text
    body = r.json()
    return {"id": body["user"]["id"], "email": email, "token": body["access_token"],
            "headers": {"Authorization": f"Bearer {body['access_token']}"}}


BACKLOG_METRICS = ("agora_consumer_lag_messages", "agora_outbox_pending")


def backlog(service_url: str) -> list[str]:
    """The service's non-zero consumer lag and outbox backlog, by its own /metrics: events still on their way."""
    text = httpx.get(f"{service_url}/metrics", timeout=5).text
    return [line for line in text.splitlines()
            if line.startswith(BACKLOG_METRICS) and float(line.rsplit(" ", 1)[1]) > 0]


# --- many clients -----------------------------------------------------------------------------------------

def client_address(index: int) -> str:
    """A distinct loopback source address per simulated client (all of 127.0.0.0/8 reaches the gateway), so
    the gateway's per-address rate limits apply per member, as they would to real members on their own
    machines."""
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


class Client:
    """One member's (or the operator's) HTTP client through the gateway, from its own address.

    `call` checks the status and returns the JSON body; it waits and retries when the gateway answers 429
    (as a well-behaved client honouring Retry-After would), never on anything else."""

    def __init__(self, base_url: str, index: int, token: str | None = None, timeout: float = 60.0) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout,
                                 transport=httpx.HTTPTransport(local_address=client_address(index)))
        self.token = token
        self.id: str | None = None
        self.index = index

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def raw(self, method: str, path: str, **kw) -> httpx.Response:
        for attempt in range(60):
            r = self.http.request(method, path, headers={**self.headers(), **kw.pop("headers", {})}, **kw)
            if r.status_code != 429:
                return r
            time.sleep(min(float(r.headers.get("Retry-After") or 0.5), 2.0) * (1 + attempt % 3))
        return r

    def call(self, method: str, path: str, *, expect: tuple[int, ...] = (200, 201, 204), **kw) -> Any:
        r = self.raw(method, path, **kw)
        assert r.status_code in expect, f"{method} {path} -> {r.status_code}: {r.text[:500]}"
        return r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else None

    def register(self, display_name: str, email: str, password: str = "correct-horse-battery") -> "Client":
        """Register, then sign in (registration answers 202 without tokens, whether or not the email was taken)."""
        self.call("POST", "/api/v1/users/auth/register", expect=(202,),
                  json={"email": email, "password": password, "display_name": display_name})
        return self.login(email, password)

    def login(self, email: str, password: str) -> "Client":
        body = self.call("POST", "/api/v1/users/auth/login", json={"email": email, "password": password})
        self.token, self.id = body["access_token"], body["user"]["id"]
        return self

    def close(self) -> None:
        self.http.close()

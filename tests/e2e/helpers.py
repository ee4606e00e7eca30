"""Client-side helpers for end-to-end tests: what a client of the public API would do."""

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx


def register(gateway: httpx.Client, name: str) -> dict[str, Any]:
    """Register a member; returns {"id", "token", "headers"}."""
    email = f"{name.lower().replace(' ', '.')}.{uuid.uuid4().hex[:6]}@example.org"
    r = gateway.post("/api/v1/users/auth/register",
                     json={"email": email, "password": "correct-horse-battery", "display_name": name})
    assert r.status_code == 201, r.text
    body = r.json()
    return {"id": body["user"]["id"], "email": email, "token": body["access_token"],
            "headers": {"Authorization": f"Bearer {body['access_token']}"}}


def wait_until(check: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.2, what: str = "") -> Any:
    """Poll `check` until it returns a truthy value; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what or check}; last value: {last!r}")

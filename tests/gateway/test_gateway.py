"""The gateway for real: nginx from Debian with the project's template, in front of small uvicorn apps."""

import json
import re
import time

import httpx
import pytest
from agora_testing.waiting import wait_until

SERVICES = ("users", "content", "events", "points", "search")


@pytest.mark.parametrize("service", SERVICES)
def test_routes_each_service_with_the_path_and_query_unchanged(gateway, service):
    resp = httpx.get(f"{gateway.url}/api/v1/{service}/echo?page=2&q=k8s")
    assert resp.status_code == 200
    body = resp.json()
    assert body["service"] == service
    assert body["path"] == f"/api/v1/{service}/echo"
    assert body["query"] == "page=2&q=k8s"


def test_routes_the_bare_service_prefix_but_not_lookalikes(gateway):
    assert httpx.get(f"{gateway.url}/api/v1/content").json()["service"] == "content"
    resp = httpx.get(f"{gateway.url}/api/v1/contentious/echo")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"


def test_client_request_id_reaches_the_service_the_response_and_the_access_log(gateway, upstreams):
    resp = httpx.get(f"{gateway.url}/api/v1/events/echo", headers={"X-Request-ID": "req-abc.123"})
    assert resp.headers["X-Request-ID"] == "req-abc.123"
    assert resp.headers.get_list("X-Request-ID") == ["req-abc.123"]  # the service's echo of it is not doubled
    assert resp.json()["headers"]["x-request-id"] == "req-abc.123"
    assert resp.json()["headers"]["x-forwarded-for"] == "127.0.0.1"

    def logged() -> list[dict]:
        lines = (gateway.log_dir / "gateway-access.log").read_text().splitlines()
        return [entry for entry in map(json.loads, lines) if entry["request_id"] == "req-abc.123"]

    # nginx writes the access log line once it has finished the request, which can be just after the client has
    # read the whole response (CI once read the log first)
    entries = wait_until(logged, timeout=5, interval=0.05, what="the request's access log line")
    assert entries[0]["uri"] == "/api/v1/events/echo" and entries[0]["status"] == 200


def test_request_id_is_generated_when_missing_or_unsafe(gateway):
    for headers in ({}, {"X-Request-ID": "has spaces and \"quotes\""}):
        resp = httpx.get(f"{gateway.url}/api/v1/points/echo", headers=headers)
        rid = resp.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid)
        assert resp.json()["headers"]["x-request-id"] == rid


def test_too_many_requests_get_429_json_with_retry_after(strict_gateway, upstreams):
    statuses = []
    with httpx.Client(base_url=strict_gateway.url) as client:
        for _ in range(10):
            resp = client.get("/api/v1/search/echo")
            statuses.append(resp.status_code)
            if resp.status_code == 429:
                limited = resp
    assert statuses[0] == 200
    assert 429 in statuses
    assert limited.headers["Retry-After"] == "1"
    assert limited.headers["Content-Type"].startswith("application/json")
    error = limited.json()["error"]
    assert error["code"] == "rate_limited" and error["message"]
    assert error["request_id"] == limited.headers["X-Request-ID"]


def test_the_demo_loader_client_waits_out_the_rate_limit(strict_gateway, upstreams):
    """A second `make run` on a warm machine hit the sign-up limit and the demo loader gave up on the 429."""
    from agora_devservers.demo import PoliteClient

    with PoliteClient(base_url=strict_gateway.url) as client:
        statuses = [client.get("/api/v1/search/echo").status_code for _ in range(5)]  # 1 r/s, burst 1
    assert statuses == [200] * 5


def test_demo_members_sign_in_from_addresses_of_their_own(gateway, upstreams):
    """Each demo member signs up and in from its own loopback address, so the per-address auth limit (burst 2 here)
    never makes the loader wait: twelve members from one address (24 auth requests) waited ~25 s at 30/min."""
    from agora_devservers.demo import PoliteClient, _member_client, member_address

    started = time.monotonic()
    with PoliteClient(base_url=gateway.url, timeout=10) as api:
        for i in range(4):
            with _member_client(api, i) as own:
                assert own is not api
                for _ in range(3):  # one at once plus the burst of 2: a 429 would wait 10 s (6/min)
                    assert own.post("/api/v1/users/auth/login", json={}).status_code == 200
                own.get("/api/v1/users/echo")
    assert time.monotonic() - started < 5
    seen = [r["headers"].get("x-real-ip") for r in upstreams.seen["users"] if r["path"] == "/api/v1/users/echo"]
    assert seen[-4:] == [member_address(i) for i in range(4)]
    # a gateway that is not on loopback: the shared client, which waits out the limits
    with PoliteClient(base_url="http://gateway.example:8080") as remote, _member_client(remote, 0) as own:
        assert own is remote


def test_body_over_the_limit_gets_413_json(gateway):
    small = httpx.post(f"{gateway.url}/api/v1/content/echo", content=b"x" * 1000)
    assert small.status_code == 200 and small.json()["body_length"] == 1000
    big = httpx.post(f"{gateway.url}/api/v1/content/echo", content=b"x" * 200_000)
    assert big.status_code == 413
    assert big.json()["error"]["code"] == "payload_too_large"


def test_bad_token_is_rejected_at_the_gateway(gateway, upstreams):
    resp = httpx.get(f"{gateway.url}/api/v1/content/echo", headers={"Authorization": "Bearer forged"})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthorized"
    rid = resp.headers["X-Request-ID"]
    assert not [r for r in upstreams.seen["content"] if r["headers"].get("x-request-id") == rid]
    # the users service was asked, with the token
    assert any(r["headers"].get("authorization") == "Bearer forged" for r in upstreams.seen["users"])


def test_good_token_passes_and_reaches_the_service(gateway, upstreams):
    token = f"Bearer {upstreams.good_token}"
    resp = httpx.get(f"{gateway.url}/api/v1/content/echo", headers={"Authorization": token})
    assert resp.status_code == 200
    assert resp.json()["headers"]["authorization"] == token  # services verify it again


def test_anonymous_requests_skip_token_verification(gateway, upstreams):
    before = len(upstreams.seen["users"])
    assert httpx.get(f"{gateway.url}/api/v1/search/echo").status_code == 200
    assert len(upstreams.seen["users"]) == before


def test_cors_preflight_and_simple_requests(strict_gateway):
    allowed = "https://app.agora.example"
    pre = httpx.options(
        f"{strict_gateway.url}/api/v1/content/echo",
        headers={"Origin": allowed, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"},
    )
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == allowed
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    other = httpx.options(
        f"{strict_gateway.url}/api/v1/content/echo",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in other.headers


def test_service_errors_pass_through_untouched(gateway):
    resp = httpx.get(f"{gateway.url}/api/v1/users/teapot")
    assert resp.status_code == 418
    assert resp.json()["error"]["code"] == "teapot"


def test_slow_service_gets_504_json(gateway):
    resp = httpx.get(f"{gateway.url}/api/v1/events/slow?seconds=3", timeout=10)
    assert resp.status_code == 504
    assert resp.json()["error"]["code"] == "gateway_timeout"


def test_combined_openapi_has_every_service_and_keeps_clashing_schemas_apart(gateway):
    doc = httpx.get(f"{gateway.url}/api/v1/openapi.json").json()
    for service in SERVICES:
        assert f"/api/v1/{service}/items/{{item_id}}" in doc["paths"]
    assert "/healthz" not in doc["paths"]
    assert "/api/v1/users/auth/verify" not in doc["paths"]  # hidden from the schema by its service
    schemas = doc["components"]["schemas"]
    fields = {name: list(s["properties"]) for name, s in schemas.items() if name.endswith("Item")}
    assert sorted(f[0] for f in fields.values()) == sorted(f"{s}_field" for s in SERVICES)
    ref = doc["paths"]["/api/v1/search/items/{item_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    target = ref["schema"]["$ref"].rsplit("/", 1)[1]
    assert list(schemas[target]["properties"]) == ["search_field"]
    op_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(op_ids) == len(set(op_ids))


def test_docs_page_is_swagger_ui_served_locally(gateway):
    page = httpx.get(f"{gateway.url}/docs", follow_redirects=True)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "/api/v1/openapi.json" in page.text
    assets = re.findall(r'(?:src|href)="(/docs/[^"]+)"', page.text)
    assert "/docs/swagger-ui-bundle.js" in assets
    for asset in assets:
        assert httpx.get(f"{gateway.url}{asset}").status_code == 200, asset
    assert "http" not in "".join(re.findall(r'src="([^"]+)"', page.text))  # no CDN


def test_unknown_route_and_health(gateway):
    missing = httpx.get(f"{gateway.url}/wp-admin")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert httpx.get(f"{gateway.url}/healthz").json()["status"] == "ok"


def test_login_has_a_stricter_per_minute_limit(gateway):
    statuses = [httpx.post(f"{gateway.url}/api/v1/users/auth/login", json={}).status_code for _ in range(6)]
    assert statuses[:3] == [200, 200, 200]  # 1 + burst 2
    assert 429 in statuses[3:]
    assert httpx.get(f"{gateway.url}/api/v1/users/echo").status_code == 200  # other routes are unaffected


def test_access_log_names_the_authenticated_user(gateway, upstreams):
    rid = "req-user-log"
    httpx.get(f"{gateway.url}/api/v1/content/echo",
              headers={"Authorization": f"Bearer {upstreams.good_token}", "X-Request-ID": rid})
    lines = [json.loads(line) for line in (gateway.log_dir / "gateway-access.log").read_text().splitlines()]
    assert [e["user_id"] for e in lines if e["request_id"] == rid] == ["u-1"]

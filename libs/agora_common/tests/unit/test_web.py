"""The shared app factory: one answer for a dependency that is down, and JSON log lines that carry the request id
(uvicorn's own lines included)."""

import io
import json
import logging

import httpx
import pytest
from agora_common.errors import AgoraError
from agora_common.settings import ServiceSettings
from agora_common.uow import Contention
from agora_common.web import create_app
from aiokafka.errors import KafkaConnectionError
from fastapi import APIRouter
from pymongo.errors import ServerSelectionTimeoutError
from pythonjsonlogger.json import JsonFormatter

router = APIRouter()


@router.get("/db-down")
async def db_down() -> None:
    raise ServerSelectionTimeoutError("no servers found")


@router.get("/broker-down")
async def broker_down() -> None:
    raise KafkaConnectionError("no broker")


@router.get("/contended")
async def contended() -> None:
    raise Contention("too many concurrent changes; try again shortly")


@router.get("/slow-down")
async def slow_down() -> None:
    raise AgoraError("wait a little", code="too_many_attempts", headers={"Retry-After": "7"})


@router.get("/ok")
async def ok() -> dict:
    logging.getLogger("agora.test").info("inside the request")
    return {"ok": True}


@pytest.fixture
def app():
    return create_app(settings=ServiceSettings(service_name="kernel-test"), title="t", description="t",
                      routers=[router])


def capture_root_handler() -> io.StringIO:
    """What the app's JSON log handler writes, from now on."""
    buffer = io.StringIO()
    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    handler.setStream(buffer)
    return buffer


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


API = "/api/v1/kernel-test"  # routers are mounted under the service's prefix


@pytest.mark.parametrize(("path", "code", "mentions"), [
    ("/db-down", "unavailable", "database"),
    ("/broker-down", "unavailable", "message broker"),
    ("/contended", "contention", "concurrent"),
])
async def test_a_dependency_that_is_down_or_contended_is_a_503_with_retry_after(client, path, code, mentions):
    r = await client.get(API + path, headers={"X-Request-ID": "rid-1"})
    assert r.status_code == 503
    assert r.headers["Retry-After"].isdigit()
    body = r.json()
    assert body["error"]["code"] == code and mentions in body["error"]["message"]
    assert body["request_id"] == "rid-1"


async def test_an_error_can_carry_headers_of_its_own(client):
    r = await client.get(API + "/slow-down")
    assert r.status_code == 400 and r.json()["error"]["code"] == "too_many_attempts"
    assert r.headers["Retry-After"] == "7"
    assert AgoraError("no headers").response_headers is None
    assert Contention("c", headers={"X-Extra": "1"}).response_headers == {"Retry-After": "1", "X-Extra": "1"}


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def test_log_lines_of_a_request_carry_its_id(client):
    logged = capture_root_handler()
    r = await client.get(f"{API}/ok", headers={"X-Request-ID": "rid-42"})
    assert r.status_code == 200
    lines = _json_lines(logged.getvalue())
    inside = next(line for line in lines if line["message"] == "inside the request")
    request = next(line for line in lines if line["message"] == "request")
    assert inside["request_id"] == request["request_id"] == "rid-42"
    assert request["path"] == f"{API}/ok" and request["status"] == 200 and request["service"] == "kernel-test"


def test_uvicorn_lines_are_json_too():
    # uvicorn configures its loggers with plain-text handlers before the app factory runs
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.addHandler(logging.StreamHandler())
    uvicorn_error.propagate = False
    create_app(settings=ServiceSettings(service_name="kernel-test"), title="t", description="t", routers=[])
    logged = capture_root_handler()
    uvicorn_error.info("Application startup complete.")
    (line,) = [x for x in _json_lines(logged.getvalue()) if x["logger"] == "uvicorn.error"]
    assert line["message"] == "Application startup complete." and line["service"] == "kernel-test"


async def test_every_request_reports_its_database_time_as_a_metric(client):
    from agora_common import metrics

    def observed() -> float:
        return next(s.value for m in metrics.REQUEST_DB_SECONDS.collect() for s in m.samples
                    if s.name.endswith("_count"))

    before = observed()
    assert (await client.get(f"{API}/ok")).status_code == 200
    assert observed() == before + 1


def test_an_unknown_query_parameter_is_a_422_naming_it():
    from typing import Annotated

    from agora_common.settings import ServiceSettings
    from agora_common.web import create_app
    from fastapi import APIRouter, Depends, Query
    from fastapi.testclient import TestClient

    router = APIRouter(prefix="/things")

    def paging(limit: Annotated[int, Query(ge=1)] = 10, cursor: str | None = None) -> dict:
        return {"limit": limit, "cursor": cursor}

    @router.get("")
    async def list_things(page: Annotated[dict, Depends(paging)], tag: str | None = None,
                          kind: Annotated[str | None, Query(alias="type")] = None) -> dict:
        return {**page, "tag": tag, "type": kind}

    app = create_app(settings=ServiceSettings(service_name="demo"), title="t", description="d", routers=[router])
    with TestClient(app) as client:
        ok = client.get("/api/v1/demo/things", params={"limit": 2, "cursor": "c", "tag": "k8s", "type": "q"})
        assert ok.status_code == 200 and ok.json() == {"limit": 2, "cursor": "c", "tag": "k8s", "type": "q"}
        bad = client.get("/api/v1/demo/things", params={"tag": "k8s", "industry": "banking", "kind": "q"})
        assert bad.status_code == 422
        error = bad.json()["error"]
        assert error["code"] == "unknown_query_parameter" and error["details"]["unknown"] == ["industry", "kind"]
        assert error["details"]["allowed"] == ["cursor", "limit", "tag", "type"]
        assert client.get("/healthz", params={"x": "1"}).status_code == 422

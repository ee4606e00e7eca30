"""Gateway behaviour when services are not running: JSON 502s, and an OpenAPI document that says so."""

from pathlib import Path

import httpx
from agora_devservers import free_port, wait_for_port
from agora_devservers.gateway import refresh_openapi, start_gateway


def test_missing_services_give_json_502_and_are_named_in_the_openapi_document(tmp_path: Path):
    ports = {name: free_port() for name in ("users", "content", "events", "points", "search")}
    gw = start_gateway(upstreams=ports, port=free_port(), log_dir=tmp_path, openapi_timeout=0.2)
    try:
        resp = httpx.get(f"{gw.url}/api/v1/content/questions")
        assert resp.status_code == 502
        assert resp.json()["error"]["code"] == "bad_gateway"
        # a token cannot be checked while the users service is down: refused, not let through
        resp = httpx.get(f"{gw.url}/api/v1/content/questions", headers={"Authorization": "Bearer x"})
        assert resp.status_code == 502
        doc = httpx.get(f"{gw.url}/api/v1/openapi.json").json()
        assert doc["info"]["x-agora-missing-services"] == list(ports)
        assert doc["paths"] == {}

        # a service that comes up later is picked up by a refresh
        import threading

        import uvicorn
        from fastapi import FastAPI

        app = FastAPI()

        @app.get("/api/v1/search/ping", summary="Ping")
        async def ping() -> dict:
            return {}

        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=ports["search"], log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            wait_for_port(ports["search"])
            refresh_openapi(gw, ports, timeout=0.5)
            doc = httpx.get(f"{gw.url}/api/v1/openapi.json").json()
            assert list(doc["paths"]) == ["/api/v1/search/ping"]
            assert "search" not in doc["info"]["x-agora-missing-services"]
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    finally:
        gw.stop()
    assert gw.proc.poll() is not None
    assert not gw.cleanup_dirs[0].exists()

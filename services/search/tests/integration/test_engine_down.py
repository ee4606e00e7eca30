"""With the search engine unreachable the service still boots, says it is not ready, and answers 503 (no 500)."""

import httpx
import pytest
from agora_devservers.servers import free_port
from agora_search.config import Settings
from agora_search.main import create_app
from asgi_lifespan import LifespanManager

pytestmark = pytest.mark.servers("kafka")


async def test_engine_down(agora_env):
    settings = Settings(**agora_env, elasticsearch_url=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as client,
    ):
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 503
        for path, params in (("/api/v1/search", {"q": "kafka"}), ("/api/v1/search/suggest", {"prefix": "ka"})):
            response = await client.get(path, params=params)
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "search_unavailable"

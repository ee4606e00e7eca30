"""Liveness: a points instance whose live path is broken asks to be restarted (its state is rebuilt from the log
on start), instead of serving figures that no longer move."""

import httpx
import pytest
from agora_points.main import create_app
from agora_testing.events import eventually
from asgi_lifespan import LifespanManager

pytestmark = pytest.mark.servers("kafka", "redis")


async def test_a_running_instance_is_live(agora_env, h):
    async with h.Running(agora_env) as client:
        r = await client.get("/healthz")
        assert r.status_code == 200 and r.json()["status"] == "ok"


async def test_a_live_consumer_that_cannot_start_fails_liveness(agora_env, tmp_path, h):
    (tmp_path / "faust").write_text("a file where the live consumer's app directory should go")
    app = create_app(h.settings(agora_env, data_dir=str(tmp_path)))
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as client,
    ):
        async def not_live() -> None:
            r = await client.get("/healthz")
            assert r.status_code == 503, r.text
            error = r.json()["error"]
            assert error["code"] == "not_live"
            assert "live consumer stopped" in error["details"]["live_path_healthy"]

        await eventually(not_live, timeout=60)
        assert (await client.get("/readyz")).status_code == 503

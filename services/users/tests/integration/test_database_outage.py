"""With its database gone the service answers 503 (not 500), and token verification keeps working."""

import httpx
import pytest
from agora_devservers import start_mongo
from agora_users.config import Settings
from agora_users.main import create_app
from asgi_lifespan import LifespanManager

pytestmark = pytest.mark.servers("kafka")


async def test_database_outage_gives_503_and_verify_still_answers(agora_env, tmp_path):
    mongo = start_mongo(log_dir=tmp_path)  # our own server, so stopping it disturbs no other test
    try:
        settings = Settings(**{**agora_env, "mongo_url": mongo.url}, consume_events=False,
                            argon2_time_cost=1, argon2_memory_cost_kib=8, argon2_parallelism=1)
        app = create_app(settings)
        async with (
            LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as c,
        ):
            r = await c.post("/api/v1/users/auth/register", json={
                "email": "ada@example.com", "password": "correct horse battery", "display_name": "Ada"})
            assert r.status_code == 202
            r = await c.post("/api/v1/users/auth/login", json={
                "email": "ada@example.com", "password": "correct horse battery"})
            assert r.status_code == 200
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            mongo.stop()

            r = await c.get("/api/v1/users/me", headers=headers)
            assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
            assert r.headers["Retry-After"]
            assert (await c.get("/api/v1/users/auth/verify", headers=headers)).status_code == 200
    finally:
        mongo.stop()

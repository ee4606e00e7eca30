"""Registration, login, refresh rotation and token verification against real MongoDB and Kafka."""

import asyncio

import pytest
from agora_common.events.users import UserRegistered
from agora_testing.events import read_events

pytestmark = pytest.mark.servers("kafka", "mongo")

PASSWORD = "correct horse battery"


async def test_register_login_refresh_verify(client, settings):
    r = await client.post("/api/v1/users/auth/register",
                          json={"email": "Ada@Example.com", "password": PASSWORD, "display_name": "Ada"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["access_token"] and body["refresh_token"] and body["expires_at"]
    user = body["user"]
    assert user["id"] and user["email"] == "Ada@example.com" and user["roles"] == ["member"]
    assert "password_hash" not in user and "email_key" not in user

    # login is case-insensitive on the email
    r = await client.post("/api/v1/users/auth/login", json={"email": "ADA@example.COM", "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["id"] == user["id"]

    r = await client.get("/api/v1/users/auth/verify", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert r.status_code == 200
    assert r.json() == {"user_id": user["id"], "roles": ["member"]}
    assert r.headers["X-User-Id"] == user["id"]

    r = await client.post("/api/v1/users/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["refresh_token"] != body["refresh_token"]

    # the spent token is rejected, and its reuse revokes the rotated one too (stolen-token defence)
    r = await client.post("/api/v1/users/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert r.status_code == 401 and r.json()["error"]["code"] == "refresh_token_reused"
    r = await client.post("/api/v1/users/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert r.status_code == 401

    events = await read_events(settings.kafka_bootstrap, f"{settings.topic_prefix}users",
                               until=lambda es: any(e.type == "UserRegistered" for e in es))
    registered = [e for e in events if e.type == "UserRegistered"]
    assert len(registered) == 1 and registered[0].subject == user["id"] and registered[0].version == 1
    payload = registered[0].payload()
    assert isinstance(payload, UserRegistered) and payload.display_name == "Ada"
    assert "Ada@" not in registered[0].model_dump_json()  # no email on the bus


async def test_verify_rejects_missing_bad_and_refresh_tokens(client, signup):
    assert (await client.get("/api/v1/users/auth/verify")).status_code == 401
    r = await client.get("/api/v1/users/auth/verify", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"
    member = await signup("bob@example.com")
    r = await client.get("/api/v1/users/auth/verify", headers={"Authorization": f"Bearer {member['refresh_token']}"})
    assert r.status_code == 401  # a refresh token is not an access token
    r = await client.post("/api/v1/users/auth/refresh", json={"refresh_token": member["access_token"]})
    assert r.status_code == 401


async def test_bad_registrations_get_clear_errors_and_write_nothing(client, signup, app):
    await signup("taken@example.com")
    cases = [
        ({"email": "TAKEN@example.com", "password": PASSWORD, "display_name": "X"}, 409, "email_taken"),
        ({"email": "new@example.com", "password": "short", "display_name": "X"}, 422, "weak_password"),
        ({"email": "not-an-email", "password": PASSWORD, "display_name": "X"}, 422, "invalid_input"),
        ({"email": "new@example.com", "password": PASSWORD}, 422, "invalid_input"),
        ({"email": "new@example.com", "password": PASSWORD, "display_name": "  "}, 422, "invalid_input"),
        ({"email": "new@example.com", "password": PASSWORD, "display_name": "X", "roles": ["operator"]}, 422,
         "invalid_input"),
    ]
    for body, status, code in cases:
        r = await client.post("/api/v1/users/auth/register", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["code"] == code
        assert r.json()["error"]["message"]
    db = app.state.store.db
    assert await db.users.count_documents({}) == 1
    assert await db.outbox.count_documents({"type": "UserRegistered"}) == 1


async def test_wrong_password_and_unknown_email_look_the_same(client, signup):
    await signup("carol@example.com")
    wrong = await client.post("/api/v1/users/auth/login", json={"email": "carol@example.com", "password": "x" * 12})
    unknown = await client.post("/api/v1/users/auth/login", json={"email": "nobody@example.com", "password": "x" * 12})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"] == unknown.json()["error"]


async def test_concurrent_registrations_with_one_email_create_exactly_one(client, app):
    async def attempt(i: int):
        return await client.post("/api/v1/users/auth/register",
                                 json={"email": f"{'same' if i % 2 else 'SAME'}@example.com", "password": PASSWORD,
                                       "display_name": f"Twin {i}"})

    responses = await asyncio.gather(*(attempt(i) for i in range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409], [r.text for r in responses]
    db = app.state.store.db
    assert await db.users.count_documents({}) == 1
    assert await db.outbox.count_documents({"type": "UserRegistered"}) == 1


async def test_bootstrap_operator_is_created_once(agora_env):
    import httpx
    from agora_users.config import Settings
    from agora_users.main import create_app
    from asgi_lifespan import LifespanManager
    from pydantic import SecretStr

    settings = Settings(**agora_env, argon2_time_cost=1, argon2_memory_cost_kib=8, argon2_parallelism=1,
                        bootstrap_operator_email="root@example.com",
                        bootstrap_operator_password=SecretStr("operator-password-1"), consume_events=False)
    for _ in range(2):  # a restart must not create a second one
        app = create_app(settings)
        async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as c:
                r = await c.post("/api/v1/users/auth/login",
                                 json={"email": "root@example.com", "password": "operator-password-1"})
                assert r.status_code == 200, r.text
                assert r.json()["user"]["roles"] == ["member", "moderator", "operator"]
            assert await app.state.store.db.users.count_documents({}) == 1


async def test_repeated_failed_logins_lock_the_email_for_a_while(client, signup, settings):
    settings.login_max_failures = 3  # the running app shares this settings object
    await signup("dan@example.com", "Dan")
    for _ in range(3):
        r = await client.post("/api/v1/users/auth/login", json={"email": "dan@example.com", "password": "x" * 12})
        assert r.status_code == 401
    r = await client.post("/api/v1/users/auth/login", json={"email": "DAN@example.com", "password": PASSWORD})
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_attempts"
    assert r.json()["error"]["details"]["retry_after_seconds"] > 0
    # other accounts are unaffected
    await signup("eve@example.com", "Eve")
    r = await client.post("/api/v1/users/auth/login", json={"email": "eve@example.com", "password": PASSWORD})
    assert r.status_code == 200


async def test_nobody_can_lock_a_member_out_from_another_address(client, signup, settings):
    """Failed sign-ins lock the (email, address) pair: a guesser slows only themselves down."""
    settings.login_max_failures = 3
    await signup("gus@example.com", "Gus")
    attacker, member = {"X-Real-IP": "203.0.113.9"}, {"X-Real-IP": "198.51.100.7"}
    for _ in range(3):
        r = await client.post("/api/v1/users/auth/login", headers=attacker,
                              json={"email": "gus@example.com", "password": "x" * 12})
        assert r.status_code == 401
    r = await client.post("/api/v1/users/auth/login", headers=attacker,
                          json={"email": "gus@example.com", "password": PASSWORD})
    assert r.status_code == 429
    r = await client.post("/api/v1/users/auth/login", headers=member, json={"email": "gus@example.com", "password": PASSWORD})
    assert r.status_code == 200


async def test_one_refresh_token_used_twice_at_once_gives_one_session(client, signup):
    member = await signup("fay@example.com", "Fay")
    responses = await asyncio.gather(*(
        client.post("/api/v1/users/auth/refresh", json={"refresh_token": member["refresh_token"]}) for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [200, 401]


async def test_tokens_of_unknown_accounts_get_404_not_500(client, settings):
    from agora_common.auth import issue_token

    token = issue_token(settings, user_id="never-registered", roles=["member"], kind="access")[0]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 404
    assert (await client.patch("/api/v1/users/me", headers=headers, json={"bio": "x"})).status_code == 404
    assert (await client.put("/api/v1/users/me/following/tags/k8s", headers=headers)).status_code == 404
    assert (await client.delete("/api/v1/users/me", headers=headers)).status_code == 404


async def test_change_password_signs_out_other_sessions(client, signup):
    member = await signup("gus@example.com", "Gus")
    url = "/api/v1/users/me/password"
    r = await client.post(url, headers=member["headers"], json={"current_password": "wrong-one-123",
                                                               "new_password": "a new long password"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_password"
    r = await client.post(url, headers=member["headers"], json={"current_password": PASSWORD, "new_password": "short"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "weak_password"
    r = await client.post(url, headers=member["headers"], json={"current_password": PASSWORD,
                                                               "new_password": "a new long password"})
    assert r.status_code == 200 and r.json()["refresh_token"]
    old = await client.post("/api/v1/users/auth/refresh", json={"refresh_token": member["refresh_token"]})
    assert old.status_code == 401
    fresh = await client.post("/api/v1/users/auth/refresh", json={"refresh_token": r.json()["refresh_token"]})
    assert fresh.status_code == 200
    login = await client.post("/api/v1/users/auth/login", json={"email": "gus@example.com", "password": PASSWORD})
    assert login.status_code == 401
    login = await client.post("/api/v1/users/auth/login",
                              json={"email": "gus@example.com", "password": "a new long password"})
    assert login.status_code == 200

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
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "accepted" and r.json()["login"] == "/api/v1/users/auth/login"
    assert "access_token" not in r.json()  # registration signs nobody in: the answer must not depend on the email

    # login is case-insensitive on the email
    r = await client.post("/api/v1/users/auth/login", json={"email": "ADA@example.COM", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["access_token"] and body["refresh_token"] and body["expires_at"]
    user = body["user"]
    assert user["id"] and user["email"] == "Ada@example.com" and user["roles"] == ["member"]
    assert "password_hash" not in user and "email_key" not in user

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
        ({"email": "new@example.com", "password": "short", "display_name": "X"}, 422, "weak_password"),
        # the password policy answers the same for an existing email
        ({"email": "TAKEN@example.com", "password": "short", "display_name": "X"}, 422, "weak_password"),
        ({"email": "not-an-email", "password": PASSWORD, "display_name": "X"}, 422, "invalid_input"),
        ({"email": "new@example.com", "password": PASSWORD}, 422, "invalid_input"),
        ({"email": "new@example.com", "password": PASSWORD, "display_name": "  "}, 422, "invalid_input"),
        ({"email": "new@example.com", "password": PASSWORD, "display_name": "X", "roles": ["operator"]}, 422,
         "invalid_input"),
        ({"email": "new@example.com", "password": PASSWORD, "display_name": "X", "human_check_token": ""}, 422,
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


class CountingHasher:
    """Wraps the service's hasher and counts the hashes it makes."""

    def __init__(self, inner) -> None:
        self.inner, self.hashes = inner, 0

    async def hash(self, password: str) -> str:
        self.hashes += 1
        return await self.inner.hash(password)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


async def test_registering_an_existing_email_answers_like_a_new_one_and_tells_the_owner(client, signup, app, notices):
    """OWASP account enumeration: same status, same body (but the echoed email), same work (one password hash);
    the existing account is untouched and its owner notified instead."""
    owner = await signup("taken@example.com", "Owner")
    store = app.state.store
    store.hasher = hasher = CountingHasher(store.hasher)

    async def register(email: str):
        return await client.post("/api/v1/users/auth/register", headers={"X-Real-IP": "203.0.113.5"},
                                 json={"email": email, "password": "another long password", "display_name": "Mallory"})

    existing, new = await register("TAKEN@example.com"), await register("fresh@example.com")
    assert existing.status_code == new.status_code == 202, (existing.text, new.text)
    assert set(existing.json()) == set(new.json())
    assert {k: v for k, v in existing.json().items() if k != "email"} == {
        k: v for k, v in new.json().items() if k != "email"}
    assert existing.headers.keys() - {"x-request-id", "server-timing", "content-length"} == \
        new.headers.keys() - {"x-request-id", "server-timing", "content-length"}
    assert hasher.hashes == 2  # the existing email cost a hash too

    # the existing account kept its password and profile; its owner was told (no email in the notice)
    assert notices.sent == [{"user_id": owner["user"]["id"], "client": "203.0.113.5"}]
    r = await client.post("/api/v1/users/auth/login", json={"email": "taken@example.com", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["user"]["display_name"] == "Owner"
    r = await client.post("/api/v1/users/auth/login",
                          json={"email": "taken@example.com", "password": "another long password"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_credentials"
    r = await client.post("/api/v1/users/auth/login",
                          json={"email": "fresh@example.com", "password": "another long password"})
    assert r.status_code == 200 and r.json()["user"]["display_name"] == "Mallory"
    db = store.db
    assert await db.users.count_documents({}) == 2
    assert await db.outbox.count_documents({"type": "UserRegistered"}) == 2


async def test_wrong_password_and_unknown_email_look_the_same(client, signup):
    await signup("carol@example.com")
    wrong = await client.post("/api/v1/users/auth/login", json={"email": "carol@example.com", "password": "x" * 12})
    unknown = await client.post("/api/v1/users/auth/login", json={"email": "nobody@example.com", "password": "x" * 12})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"] == unknown.json()["error"]


async def test_concurrent_registrations_with_one_email_create_exactly_one(client, app, notices):
    async def attempt(i: int):
        return await client.post("/api/v1/users/auth/register",
                                 json={"email": f"{'same' if i % 2 else 'SAME'}@example.com", "password": PASSWORD,
                                       "display_name": f"Twin {i}"})

    responses = await asyncio.gather(*(attempt(i) for i in range(4)))
    assert [r.status_code for r in responses] == [202] * 4, [r.text for r in responses]
    db = app.state.store.db
    assert await db.users.count_documents({}) == 1
    assert len(notices.sent) == 3  # the account's owner hears of the three others
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
    assert r.headers["Retry-After"] == str(r.json()["error"]["details"]["retry_after_seconds"])  # as HTTP clients read it
    # other accounts are unaffected
    await signup("eve@example.com", "Eve")
    r = await client.post("/api/v1/users/auth/login", json={"email": "eve@example.com", "password": PASSWORD})
    assert r.status_code == 200


async def test_nobody_can_lock_a_member_out_from_another_address(client, signup, settings, human_check):
    """Failed sign-ins lock the (email, address) pair: a guesser slows only themselves down, however long they go
    on, and the member signs in from their own address without even a human check."""
    settings.login_max_failures = 3
    await signup("gus@example.com", "Gus")
    attacker, member = {"X-Real-IP": "203.0.113.9"}, {"X-Real-IP": "198.51.100.7"}
    statuses = []
    for _ in range(15):
        r = await client.post("/api/v1/users/auth/login", headers=attacker,
                              json={"email": "gus@example.com", "password": "x" * 12, "human_check_token": "human"})
        statuses.append(r.status_code)
    assert statuses == [401] * 3 + [429] * 12, statuses
    r = await client.post("/api/v1/users/auth/login", headers=attacker,
                          json={"email": "gus@example.com", "password": PASSWORD, "human_check_token": "human"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_attempts"
    r = await client.post("/api/v1/users/auth/login", headers=member, json={"email": "gus@example.com", "password": PASSWORD})
    assert r.status_code == 200, r.text


async def test_after_failures_from_one_address_sign_in_there_needs_the_human_check(client, signup, human_check):
    await signup("hal@example.com", "Hal")
    here, elsewhere = {"X-Real-IP": "203.0.113.10"}, {"X-Real-IP": "198.51.100.8"}
    url = "/api/v1/users/auth/login"
    for _ in range(3):  # login_human_check_after_failures
        r = await client.post(url, headers=here, json={"email": "hal@example.com", "password": "x" * 12})
        assert r.status_code == 401
    # now even the right password needs the proof from there, and a bad token is refused as such
    r = await client.post(url, headers=here, json={"email": "hal@example.com", "password": PASSWORD})
    assert r.status_code == 403 and r.json()["error"]["code"] == "human_check_required", r.text
    assert set(r.json()["error"]["details"]) == {"site_key", "reason"}
    r = await client.post(url, headers=here,
                          json={"email": "hal@example.com", "password": PASSWORD, "human_check_token": "bot"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "human_check_failed"
    # an unknown email is treated alike (the check does not reveal accounts)
    for _ in range(3):
        await client.post(url, headers=here, json={"email": "nobody@example.com", "password": "x" * 12})
    r = await client.post(url, headers=here, json={"email": "nobody@example.com", "password": "x" * 12})
    assert r.status_code == 403 and r.json()["error"]["code"] == "human_check_required"
    # the member's own address is not asked; with the proof, the member signs in there too (and the count restarts)
    assert (await client.post(url, headers=elsewhere,
                              json={"email": "hal@example.com", "password": PASSWORD})).status_code == 200
    r = await client.post(url, headers=here,
                          json={"email": "hal@example.com", "password": PASSWORD, "human_check_token": "human"})
    assert r.status_code == 200, r.text
    assert (await client.post(url, headers=here,
                              json={"email": "hal@example.com", "password": PASSWORD})).status_code == 200


async def test_guessing_one_account_from_many_addresses_asks_everyone_for_proof_and_locks_nobody_out(
        client, signup, settings, human_check):
    settings.login_human_check_account_failures = 4
    await signup("ida@example.com", "Ida")
    url = "/api/v1/users/auth/login"
    for i in range(4):  # one failure from each of four addresses: no pair reaches its own thresholds
        r = await client.post(url, headers={"X-Real-IP": f"203.0.113.{20 + i}"},
                              json={"email": "ida@example.com", "password": "x" * 12})
        assert r.status_code == 401
    member = {"X-Real-IP": "198.51.100.9"}
    r = await client.post(url, headers=member, json={"email": "ida@example.com", "password": PASSWORD})
    assert r.status_code == 403 and r.json()["error"]["code"] == "human_check_required"  # not 429: never locked
    r = await client.post(url, headers=member,
                          json={"email": "ida@example.com", "password": PASSWORD, "human_check_token": "human"})
    assert r.status_code == 200, r.text
    # a success does not reset the account's count: the next guesser is asked too
    r = await client.post(url, headers={"X-Real-IP": "203.0.113.30"},
                          json={"email": "ida@example.com", "password": "x" * 12})
    assert r.status_code == 403


async def test_one_address_guessing_many_accounts_must_prove_it_is_a_person(client, signup, settings, human_check):
    settings.login_human_check_client_failures = 3
    await signup("jo@example.com", "Jo")
    stuffer = {"X-Real-IP": "203.0.113.40"}
    url = "/api/v1/users/auth/login"
    for i in range(3):
        r = await client.post(url, headers=stuffer, json={"email": f"user{i}@example.com", "password": "x" * 12})
        assert r.status_code == 401
    r = await client.post(url, headers=stuffer, json={"email": "jo@example.com", "password": PASSWORD})
    assert r.status_code == 403 and r.json()["error"]["code"] == "human_check_required"
    r = await client.post(url, headers={"X-Real-IP": "198.51.100.10"},
                          json={"email": "jo@example.com", "password": PASSWORD})
    assert r.status_code == 200


async def test_registration_needs_the_human_check(client, app, human_check):
    url = "/api/v1/users/auth/register"
    body = {"email": "kim@example.com", "password": PASSWORD, "display_name": "Kim"}
    r = await client.post(url, json=body)
    assert r.status_code == 403 and r.json()["error"]["code"] == "human_check_required", r.text
    assert "human_check_token" in r.json()["error"]["message"]
    r = await client.post(url, json={**body, "human_check_token": "bot"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "human_check_failed"
    # the password policy answers first (it costs nothing and a weak password must not burn the token)
    r = await client.post(url, json={**body, "password": "short"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "weak_password"
    assert await app.state.store.db.users.count_documents({}) == 0
    r = await client.post(url, json={**body, "human_check_token": "human"})
    assert r.status_code == 202, r.text
    assert await app.state.store.db.users.count_documents({}) == 1


async def test_a_human_check_that_refuses_everything_stops_every_registration(client, app, human_check):
    human_check.valid.clear()  # it refuses every token now
    for token in (None, "anything"):
        r = await client.post("/api/v1/users/auth/register", json={
            "email": "lee@example.com", "password": PASSWORD, "display_name": "Lee", "human_check_token": token})
        assert r.status_code == 403, r.text
    assert human_check.calls == 2
    assert await app.state.store.db.users.count_documents({}) == 0


async def test_an_unreachable_human_check_is_a_503_to_retry(client, app):
    from agora_users.adapters.human_check import HumanCheckUnavailable

    class Down:
        async def verify(self, token, client_ip):
            raise HumanCheckUnavailable("connection refused")

    app.state.store.human_check = Down()
    r = await client.post("/api/v1/users/auth/register", json={
        "email": "max@example.com", "password": PASSWORD, "display_name": "Max", "human_check_token": "t"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
    assert r.headers["Retry-After"]


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

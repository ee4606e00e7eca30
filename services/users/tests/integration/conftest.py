import httpx
import pytest
from agora_common.auth import issue_token
from agora_users.config import Settings
from agora_users.main import create_app
from asgi_lifespan import LifespanManager

CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_cost_kib": 8, "argon2_parallelism": 1}
PASSWORD = "correct horse battery"


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "consume: run the service's event consumer (off otherwise: it takes ~5 s "
                            "to join its group on the embedded broker)")


@pytest.fixture
def settings(agora_env, request) -> Settings:
    consume = request.node.get_closest_marker("consume") is not None
    return Settings(**agora_env, **CHEAP_ARGON2, outbox_poll_interval=0.1, consume_events=consume)


@pytest.fixture
def app(settings):
    """The FastAPI app (app.state.store gives tests the database once the lifespan runs)."""
    return create_app(settings)


@pytest.fixture
async def lifespan(app):
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        yield manager


@pytest.fixture
async def client(lifespan):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=lifespan.app), base_url="http://test") as c:
        yield c


@pytest.fixture
def operator_headers(settings) -> dict[str, str]:
    token, _ = issue_token(settings, user_id="op-1", roles=["member", "moderator", "operator"], kind="access")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def moderator_headers(settings) -> dict[str, str]:
    token, _ = issue_token(settings, user_id="mod-1", roles=["member", "moderator"], kind="access")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def signup(client):
    """Register through the API, then sign in (registration answers 202 without tokens, whether or not the email
    had an account); returns the login response plus ready-made 'headers'."""

    async def register(email: str, name: str = "Member", password: str = PASSWORD) -> dict:
        r = await client.post("/api/v1/users/auth/register", json={
            "email": email, "password": password, "display_name": name, "human_check_token": "human"})
        assert r.status_code == 202, r.text
        r = await client.post("/api/v1/users/auth/login",
                              json={"email": email, "password": password, "human_check_token": "human"})
        assert r.status_code == 200, r.text
        body = r.json()
        body["headers"] = {"Authorization": f"Bearer {body['access_token']}"}
        return body

    return register


class RecordingNotices:
    """AccountNotices that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    async def registration_attempted(self, *, user_id: str, client: str) -> None:
        self.sent.append({"user_id": user_id, "client": client})


@pytest.fixture
def notices(lifespan, app) -> RecordingNotices:
    app.state.store.notices = recording = RecordingNotices()
    return recording


class TokenCheck:
    """A HumanCheck that accepts only the tokens in `valid` (none: it refuses everything), and counts its calls."""

    def __init__(self, *valid: str) -> None:
        self.valid, self.calls = set(valid), 0

    async def verify(self, token: str | None, client_ip: str) -> bool:
        self.calls += 1
        return token in self.valid


@pytest.fixture
def human_check(lifespan, app) -> TokenCheck:
    """Turn the human check on for this test: only the token "human" passes."""
    app.state.store.human_check = check = TokenCheck("human")
    return check


@pytest.fixture
def member(client, signup):
    """A member signed up and, with profile fields, with them set: `await member(email, name, city=...)`."""
    async def make(email: str, name: str, **profile) -> dict:
        m = await signup(email, name)
        if profile:
            r = await client.patch("/api/v1/users/me", headers=m["headers"], json=profile)
            assert r.status_code == 200, r.text
        m["id"] = m["user"]["id"]
        return m

    return make


@pytest.fixture
def make_group(client):
    """An operator's group: `await make_group(operator_headers, name=..., filter={...})`."""
    async def make(headers: dict, **body) -> dict:
        r = await client.post("/api/v1/users/groups", headers=headers, json=body)
        assert r.status_code == 201, r.text
        return r.json()

    return make

"""The human check adapters: the siteverify client against a local stand-in for hCaptcha/Turnstile, and the
settings that choose it."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from agora_users.adapters.human_check import AcceptAll, HumanCheckUnavailable, SiteVerify, human_check_from_settings
from agora_users.config import Settings
from pydantic import SecretStr, ValidationError


class Provider:
    """A siteverify endpoint: `answer` is what it replies (a dict as JSON, or raw bytes), `seen` the forms."""

    def __init__(self) -> None:
        self.answer: dict | bytes = {"success": True}
        self.status = 200
        self.seen: list[dict[str, list[str]]] = []


@pytest.fixture
def provider() -> Iterator[tuple[Provider, str]]:
    state = Provider()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            state.seen.append(parse_qs(self.rfile.read(length).decode()))
            body = state.answer if isinstance(state.answer, bytes) else json.dumps(state.answer).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/siteverify"
    finally:
        server.shutdown()
        server.server_close()


async def test_siteverify_posts_secret_token_and_address_and_follows_success(provider):
    state, url = provider
    check = SiteVerify(url=url, secret="s3cret", timeout=2)
    assert await check.verify("token-1", "203.0.113.7") is True
    assert state.seen == [{"secret": ["s3cret"], "response": ["token-1"], "remoteip": ["203.0.113.7"]}]
    state.answer = {"success": False, "error-codes": ["invalid-input-response"]}
    assert await check.verify("token-2", "203.0.113.7") is False
    state.answer = {"success": "yes"}  # only a JSON true counts
    assert await check.verify("token-3", "203.0.113.7") is False


async def test_siteverify_refuses_a_missing_token_without_asking(provider):
    state, url = provider
    assert await SiteVerify(url=url, secret="s", timeout=2).verify(None, "203.0.113.7") is False
    assert state.seen == []


@pytest.mark.parametrize("answer, status", [(b"<html>oops</html>", 200), (b"[]", 200), (b'{"success": true}', 500)])
async def test_siteverify_that_cannot_tell_is_unavailable_not_a_yes(provider, answer, status):
    state, url = provider
    state.answer, state.status = answer, status
    with pytest.raises(HumanCheckUnavailable):
        await SiteVerify(url=url, secret="s", timeout=2).verify("t", "203.0.113.7")


async def test_siteverify_unreachable_is_unavailable():
    with pytest.raises(HumanCheckUnavailable):
        await SiteVerify(url="http://127.0.0.1:9/siteverify", secret="s", timeout=1).verify("t", "203.0.113.7")


def test_settings_choose_the_check():
    assert isinstance(human_check_from_settings(Settings()), AcceptAll)
    chosen = human_check_from_settings(Settings(human_check="siteverify", human_check_url="https://hcaptcha.example/sv",
                                                human_check_secret=SecretStr("s")))
    assert isinstance(chosen, SiteVerify) and chosen.url == "https://hcaptcha.example/sv"
    with pytest.raises(ValidationError, match="needs human_check_url"):
        Settings(human_check="siteverify")
    with pytest.raises(ValidationError, match="http"):
        Settings(human_check="siteverify", human_check_url="file:///etc/passwd", human_check_secret=SecretStr("s"))

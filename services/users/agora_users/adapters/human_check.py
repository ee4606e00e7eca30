"""Proof that a person is behind a request (a CAPTCHA), asked on every registration and on risky sign-ins.

`HumanCheck` is the port; the service decides *when* to ask (see `service.accounts`), an implementation decides
*whether* a token proves it. `AcceptAll` (development) lets everything pass; `SiteVerify` speaks the siteverify
protocol that hCaptcha, Cloudflare Turnstile and Google reCAPTCHA share. Another provider, or a proof-of-work
check, is one more class with the same `verify`.
"""

import asyncio
import json
import logging
import urllib.error
import urllib.request
from typing import Protocol
from urllib.parse import urlencode

from agora_users.config import Settings

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 64 * 1024


class HumanCheckUnavailable(Exception):
    """The verifier could not be asked (down, timed out, answered nonsense): neither a yes nor a no."""


class HumanCheck(Protocol):
    async def verify(self, token: str | None, client_ip: str) -> bool:
        """True if `token` (what the client's widget produced; None when the client sent none) proves a person at
        `client_ip`. Raises HumanCheckUnavailable when it cannot tell."""
        ...


class AcceptAll:
    """Development and tests: every request passes, with or without a token."""

    async def verify(self, token: str | None, client_ip: str) -> bool:
        return True


class SiteVerify:
    """POST `secret`, `response` (the token) and `remoteip` as a form to the provider's siteverify URL; the JSON
    answer's `success` decides (hCaptcha: https://api.hcaptcha.com/siteverify, Turnstile:
    https://challenges.cloudflare.com/turnstile/v0/siteverify, reCAPTCHA:
    https://www.google.com/recaptcha/api/siteverify). A missing token fails without asking. Runs the request in a
    worker thread (the standard library's client: no extra dependency in the image)."""

    def __init__(self, *, url: str, secret: str, timeout: float = 5.0) -> None:
        self.url, self._secret, self.timeout = url, secret, timeout

    async def verify(self, token: str | None, client_ip: str) -> bool:
        if not token:
            return False
        return await asyncio.to_thread(self._ask, token, client_ip)

    def _ask(self, token: str, client_ip: str) -> bool:
        form = urlencode({"secret": self._secret, "response": token, "remoteip": client_ip}).encode()
        request = urllib.request.Request(self.url, data=form, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # the URL comes from settings
                body = json.loads(answer.read(MAX_ANSWER_BYTES))
        except (OSError, ValueError) as exc:  # URLError/HTTPError/timeouts are OSErrors; bad JSON a ValueError
            raise HumanCheckUnavailable(f"human check verifier: {exc}") from exc
        if not isinstance(body, dict):
            raise HumanCheckUnavailable("human check verifier: the answer is not a JSON object")
        if body.get("success") is not True:
            log.info("human check refused", extra={"error_codes": body.get("error-codes")})
            return False
        return True


def human_check_from_settings(settings: Settings) -> HumanCheck:
    if settings.human_check == "siteverify":
        assert settings.human_check_url and settings.human_check_secret  # checked by Settings
        return SiteVerify(url=settings.human_check_url, secret=settings.human_check_secret.get_secret_value(),
                          timeout=settings.human_check_timeout_seconds)
    return AcceptAll()

"""One error format for every service: {"error": {"code", "message", "details"}, "request_id"}."""

from collections.abc import Mapping
from typing import Any, ClassVar


class AgoraError(Exception):
    """A domain or request error that maps to a 4xx response."""

    status_code = 400
    code = "bad_request"
    headers: ClassVar[dict[str, str] | None] = None  # on every answer of the class, e.g. Retry-After on a 503

    def __init__(self, message: str, *, details: Any = None, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code
        self.own_headers = dict(headers or {})  # this answer's, e.g. a Retry-After computed for it

    @property
    def response_headers(self) -> dict[str, str] | None:
        """The headers of the error's response: the class's, then this error's own (which win)."""
        return {**(self.headers or {}), **self.own_headers} or None


class NotFound(AgoraError):
    status_code = 404
    code = "not_found"


class Conflict(AgoraError):
    status_code = 409
    code = "conflict"


class Forbidden(AgoraError):
    status_code = 403
    code = "forbidden"


class Unauthorized(AgoraError):
    status_code = 401
    code = "unauthorized"


class InvalidInput(AgoraError):
    status_code = 422
    code = "invalid_input"


class Gone(AgoraError):
    status_code = 410
    code = "gone"


def error_body(code: str, message: str, *, details: Any = None, request_id: str | None = None) -> dict:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    if request_id:
        body["request_id"] = request_id
    return body

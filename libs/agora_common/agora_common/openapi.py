"""One API contract for every service's OpenAPI document:

- operationIds read `<service>-<tag>-<action>` (`content-questions-ask`, `users-auth-register`), from the
  route's first tag and its function name without the tag's words;
- every error response (4xx, 5xx) is declared with the one error body every service returns,
  `{"error": {"code", "message", "details"}, "request_id"}`, FastAPI's own 422 shape included (the project's
  handler never returns it);
- every operation with a body declares 400 (not JSON), and every operation under the API prefix declares 503 (a dependency is down, or a change stayed contended) with
  its `Retry-After` header; a declared 429 gets that header too.
"""

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, TypeAdapter

ERROR_SCHEMA = "ErrorBody"
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
UNAVAILABLE = {
    "description": "A dependency (database, broker, search engine) is unavailable, or too many concurrent changes "
    "to one item: retry after the time `Retry-After` gives",
    "headers": RETRY_AFTER,
}


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable reason, e.g. `not_found`, `contention`",
                      examples=["not_found"])
    message: str = Field(description="what went wrong, for people", examples=["question q-1 not found"])
    details: Any = Field(default=None, description="more about it, e.g. the invalid fields")


class ErrorBody(BaseModel):
    """The body of every error response of every Agora service."""

    error: ErrorDetail
    request_id: str | None = Field(default=None, description="quote it when reporting a problem")


ERROR_TEXT = {
    400: "Malformed request (e.g. a body that is not JSON)", 401: "Missing, invalid or expired token",
    403: "Not allowed", 404: "Not found", 409: "Conflict with the current state", 410: "Gone (deleted or hidden)",
    413: "Request body too large", 422: "Invalid input: `details` names each invalid field",
    429: "Too many attempts: retry after the time `Retry-After` gives",
}


def errors(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """The error responses an operation declares, with standard descriptions (or its own, as `e404="..."`);
    their body schema is the shared one (added to every error response by `contract_openapi`)."""
    own = {int(key.removeprefix("e")): text for key, text in described.items()}
    return {code: {"description": own.get(code) or ERROR_TEXT.get(code, "Error")} for code in sorted({*codes, *own})}


def operation_id_function(service: str) -> Callable[[APIRoute], str]:
    """FastAPI's `generate_unique_id_function`: `<service>-<tag>-<action>`."""

    def operation_id(route: APIRoute) -> str:
        tag = str(route.tags[0]) if route.tags else "api"
        tag_words = set(re.split(r"[-_ ]", tag.lower()))
        tag_words |= {w.removesuffix("s") for w in tag_words} | {w.removesuffix("es") for w in tag_words}
        words = [w for w in route.name.lower().split("_") if w and w not in tag_words]
        return "-".join([service, tag.lower().replace(" ", "-"), *(words or [min(route.methods or {"get"}).lower()])])

    return operation_id


def contract_openapi(app: FastAPI, *, api_prefix: str) -> Callable[[], dict[str, Any]]:
    """A replacement for `app.openapi` that applies the contract to FastAPI's generated document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = generate()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        error_schema = TypeAdapter(ErrorBody).json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(error_schema.pop("$defs", {}))
        schemas[ERROR_SCHEMA] = error_schema
        error_ref = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}}
        seen: set[str] = set()
        for path, item in doc.get("paths", {}).items():
            for method, op in item.items():
                if not isinstance(op, dict):
                    continue
                if op["operationId"] in seen:
                    raise RuntimeError(f"operationId {op['operationId']} is used twice ({method.upper()} {path})")
                seen.add(op["operationId"])
                responses = op.setdefault("responses", {})
                if path.startswith(api_prefix):
                    responses.setdefault("503", dict(UNAVAILABLE)).setdefault("headers", RETRY_AFTER)
                if "429" in responses:  # the services' and the gateway's 429s all say when to come back
                    responses["429"].setdefault("headers", RETRY_AFTER)
                if "requestBody" in op:
                    responses.setdefault("400", {"description": ERROR_TEXT[400]})
                for status, response in responses.items():
                    if status[0] in "45":
                        response["content"] = error_ref
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = doc
        return doc

    return openapi

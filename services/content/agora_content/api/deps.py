"""Typed dependencies for the routers."""

from typing import Annotated

from agora_common.errors import AgoraError
from fastapi import Depends, Header, Request

from agora_content.adapters.store import Store


class PayloadTooLarge(AgoraError):
    status_code = 413
    code = "payload_too_large"


# async (not plain def): FastAPI runs sync dependencies in a thread pool, a thread hop per request each

async def get_store(request: Request) -> Store:
    return request.app.state.store


async def limit_body_size(request: Request) -> None:
    """Refuse oversized bodies from their Content-Length, before anything reads them."""
    length = request.headers.get("content-length")
    limit = request.app.state.settings.max_request_bytes
    if length and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")


StoreDep = Annotated[Store, Depends(get_store)]
IfMatch = Annotated[
    int | None, Header(alias="If-Match", description="the version you edited; 409 if the post changed meanwhile")
]

ERRORS = {
    400: {"description": "the body is not valid JSON"},
    401: {"description": "no or invalid access token"},
    403: {"description": "not allowed (not the author, suspended account, own post)"},
    404: {"description": "no such post, or not visible to you"},
    409: {"description": "conflicting state (already flagged, version mismatch, idempotency key reused)"},
    410: {"description": "the post is deleted or hidden"},
    413: {"description": "request body too large"},
    422: {"description": "invalid input"},
}

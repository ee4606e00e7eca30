from typing import Annotated

from fastapi import Depends, Query, Request

from agora_events.service.context import Ctx


def get_ctx(request: Request) -> Ctx:
    return request.app.state.ctx


AppCtx = Annotated[Ctx, Depends(get_ctx)]
Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Cursor = Annotated[str | None, Query(max_length=500, description="`next_cursor` of the page before")]

# error responses shown in the OpenAPI docs
ERRORS = {
    401: {"description": "no or invalid access token"},
    403: {"description": "not allowed for this user"},
    404: {"description": "no such event (drafts are visible only to their organisers)"},
    409: {"description": "not possible in the event's current state (the message says why), or an Idempotency-Key "
                         "reused with another request"},
    422: {"description": "invalid input"},
}

from typing import Annotated

from fastapi import Depends, Query, Request

from agora_events.service.context import Ctx


def get_ctx(request: Request) -> Ctx:
    return request.app.state.ctx


AppCtx = Annotated[Ctx, Depends(get_ctx)]
Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, le=100_000, description="items to skip")]

# error responses shown in the OpenAPI docs
ERRORS = {
    401: {"description": "no or invalid access token"},
    403: {"description": "not allowed for this user"},
    404: {"description": "no such event (drafts are visible only to their organisers)"},
    409: {"description": "not possible in the event's current state (the message says why)"},
    422: {"description": "invalid input"},
}

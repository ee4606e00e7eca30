"""Expert discovery: who answers best in a tag or a SIG, in one call (names and titles included)."""

from typing import Annotated, Literal

from agora_common.openapi import errors
from agora_common.pagination import Page
from fastapi import APIRouter, Query

from agora_content.api.deps import StoreDep
from agora_content.api.schemas import ExpertRead
from agora_content.service import expertise

router = APIRouter(tags=["experts"], responses=errors(
    e404="no such SIG (or not known to content yet)",
    e422="neither or both of tag and sig, an invalid tag, an unknown sort, or a cursor of another listing"))

Sort = Literal["accepted", "score", "speed", "recent"]


@router.get("/experts", response_model=Page[ExpertRead], summary="Experts of a tag or SIG, ranked")
async def list_experts(
    store: StoreDep,
    tag: Annotated[str | None, Query(max_length=35, description="a tag (give tag or sig, not both)")] = None,
    sig: Annotated[str | None, Query(max_length=100, description="a SIG id: its questions and its tags' questions")
                   ] = None,
    sort: Annotated[Sort, Query(description="accepted: accepted answers, then score (default); score: answer "
                                            "score, then accepted; speed: median time to first answer, fastest "
                                            "first (only members who answered first at least once); recent: "
                                            "latest answer first")] = "accepted",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page[ExpertRead]:
    rows, next_cursor = await expertise.list_experts(store=store, tag=tag, sig=sig, sort=sort, limit=limit,
                                                     cursor=cursor)
    return Page[ExpertRead](items=[ExpertRead.from_doc(r) for r in rows], next_cursor=next_cursor)

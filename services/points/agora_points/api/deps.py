from typing import Annotated, ClassVar

import httpx
from agora_common.errors import AgoraError
from fastapi import Depends, FastAPI, Request, Response

from agora_points.adapters.leaderboards import Leaderboards
from agora_points.domain.book import Book
from agora_points.service.processor import PointsProcessor

_FORWARDED = "x-agora-points-forwarded"  # a forwarded read is answered where it lands, never forwarded again


class PartitionMoving(AgoraError):
    status_code = 503
    code = "partition_moving"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "1"}


class _OwnerAnswered(Exception):  # not an error: carries the owning worker's answer out
    def __init__(self, response: httpx.Response) -> None:
        self.response = response


def get_processor(request: Request) -> PointsProcessor:
    return request.app.state.processor


def get_leaderboards(request: Request) -> Leaderboards:
    return request.app.state.leaderboards


async def get_owned_book(request: Request, user_id: str) -> Book:
    """The book of the user's partition if this worker serves it; otherwise the request goes to the worker that
    does (registered in Redis as the partition's owner) and its answer is returned as it is."""
    keeper = request.app.state.processor.keeper
    partition = keeper.partition_of(user_id)
    if partition is None:
        raise PartitionMoving("the points worker is starting")
    book = keeper.book_of(user_id)
    if book is not None:
        return book
    if partition in keeper.books:
        raise PartitionMoving(f"partition {partition} is being restored on this worker; try again shortly")
    owner = await request.app.state.leaderboards.owner(partition)
    if request.headers.get(_FORWARDED) or not owner or owner == request.app.state.advertised_url:
        raise PartitionMoving(f"partition {partition} is moving between workers; try again shortly")
    try:
        answer = await request.app.state.owners.get(
            owner.rstrip("/") + request.url.path, params=request.query_params,
            headers={_FORWARDED: "1", **{k: v for k, v in request.headers.items()
                                         if k in ("authorization", "x-request-id", "accept")}})
    except httpx.HTTPError as exc:
        raise PartitionMoving(f"the worker owning partition {partition} is not answering; try again shortly") from exc
    raise _OwnerAnswered(answer)


def install_owner_forwarding(app: FastAPI) -> None:
    @app.exception_handler(_OwnerAnswered)
    async def _answer(request: Request, exc: _OwnerAnswered) -> Response:
        return Response(exc.response.content, status_code=exc.response.status_code,
                        media_type=exc.response.headers.get("content-type"))


ProcessorDep = Annotated[PointsProcessor, Depends(get_processor)]
LeaderboardsDep = Annotated[Leaderboards, Depends(get_leaderboards)]
OwnedBook = Annotated[Book, Depends(get_owned_book)]

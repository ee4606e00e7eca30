from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from agora_common.auth import Operator
from agora_common.errors import AgoraError, InvalidInput
from agora_common.types import AnyInstant
from elasticsearch import ApiError, TransportError
from fastapi import APIRouter, Query, Response, status

from agora_search.adapters.member_names import MemberNames
from agora_search.api.deps import EsDep, ReindexJobDep, SettingsDep, ZeroHitsDep
from agora_search.api.schemas import ReindexRead, SearchResponse, SuggestResponse
from agora_search.domain.query import SearchParams
from agora_search.service import search as search_service

router = APIRouter(tags=["search"])

MAX_TAGS = 10
ERRORS: dict[int | str, dict[str, Any]] = {422: {"description": "invalid parameters or cursor"},
                                           503: {"description": "search engine unavailable"}}


class SearchUnavailable(AgoraError):
    status_code = 503
    code = "search_unavailable"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "2"}


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # a date or time without offset means UTC
    return value


def _tags(values: list[str]) -> tuple[str, ...]:
    # accept both tags=a&tags=b and tags=a,b
    tags = sorted({t.strip().lower() for v in values for t in v.split(",") if t.strip()})
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags")
    return tuple(tags)


def _server_timing(response: Response, timing: dict[str, float]) -> None:
    # the platform middleware writes Server-Timing (db = engine round trip, app = the rest): this is the detail
    response.headers["X-Search-Timing"] = ", ".join(
        f"{name};dur={seconds * 1000:.2f}" for name, seconds in timing.items()
    )


async def _engine(coro):
    try:
        return await coro
    except AgoraError:
        raise
    except (TransportError, ApiError) as exc:
        status_code = getattr(exc, "status_code", None) or getattr(getattr(exc, "meta", None), "status", None)
        if status_code == 404:  # no index yet: the service is still preparing it (or lost its engine)
            raise SearchUnavailable("the search index is not available yet; try again shortly") from exc
        if isinstance(status_code, int) and 400 <= status_code < 500 and status_code != 429:
            raise InvalidInput(f"the search engine refused the query: {exc}"[:300], code="invalid_query") from exc
        raise SearchUnavailable("the search engine is unavailable; try again shortly") from exc


@router.get("", response_model=SearchResponse, summary="Full-text search over questions and articles", responses=ERRORS)
async def search(
    es: EsDep,
    settings: SettingsDep,
    zero_hits: ZeroHitsDep,
    q: Annotated[str | None, Query(max_length=500, description="words to find; English and Chinese; typos tolerated")] = None,
    type: Annotated[Literal["question", "article"] | None, Query()] = None,
    tags: Annotated[list[str], Query(description="every tag must be present; repeat or comma-separate")] = [],  # noqa: B006
    author: Annotated[str | None, Query(max_length=100, description="author's user id")] = None,
    sig: Annotated[str | None, Query(max_length=100, description="posts of this SIG (special interest group) only")] = None,
    event: Annotated[str | None, Query(max_length=100, description="questions asked in this online Q&A session")] = None,
    date_from: Annotated[AnyInstant | None, Query(alias="from", description="created at or after (ISO 8601)")] = None,
    date_to: Annotated[AnyInstant | None, Query(alias="to", description="created at or before (ISO 8601)")] = None,
    answered: Annotated[bool | None, Query(description="questions with (true) or without (false) answers")] = None,
    accepted: Annotated[bool | None, Query(description="questions with (true) or without (false) an accepted answer")] = None,
    sort: Annotated[Literal["relevance", "newest", "votes"], Query()] = "relevance",
    size: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=4096, description="next_cursor of the previous page")] = None,
) -> Response:
    date_from, date_to = _utc(date_from), _utc(date_to)
    if date_from and date_to and date_from > date_to:
        raise InvalidInput("'from' is after 'to'")
    params = SearchParams(
        q=q, type=type, tags=_tags(tags), author=author, sig=sig, event=event, date_from=date_from, date_to=date_to,
        answered=answered, accepted=accepted, sort=sort, size=size,
    )
    result = await _engine(search_service.search(
        es=es, alias=settings.alias, params=params, cursor=cursor, pit_keep_alive=settings.pit_keep_alive,
        names=MemberNames(es, settings.member_names_index),
    ))
    timing = result.pop("timing")
    if result["total"] == 0 and cursor is None:
        zero_hits.note(params)  # counted for the demand report (never with the user), in the background
    # serialised here, straight from the model: skips FastAPI's generic encoder (a hot path)
    response = Response(SearchResponse.model_validate(result).model_dump_json(), media_type="application/json")
    _server_timing(response, timing)
    return response


@router.get("/suggest", response_model=SuggestResponse, summary="Autocomplete titles and tags", responses=ERRORS)
async def suggest(
    es: EsDep,
    settings: SettingsDep,
    prefix: Annotated[str, Query(min_length=1, max_length=100, description="what the user typed so far")],
    size: Annotated[int, Query(ge=1, le=20)] = 8,
) -> dict:
    prefix = prefix.strip()
    if not prefix:
        return {"titles": [], "tags": []}
    return await _engine(search_service.suggest(es=es, alias=settings.alias, prefix=prefix, size=size))


@router.post(
    "/admin/reindex", response_model=ReindexRead, status_code=status.HTTP_202_ACCEPTED,
    summary="Rebuild the index from the content event log and swap it in without downtime (operators)",
    responses={409: {"description": "a reindex is already running"}, 403: {"description": "operators only"}},
)
async def start_reindex(
    _: Operator,
    job: ReindexJobDep,
    force: Annotated[bool, Query(description="first drop an index a crashed reindex left in the write alias")] = False,
) -> dict:
    return (await _engine(job.start(force=force))).as_dict()


@router.get("/admin/reindex", response_model=ReindexRead, summary="Progress of the last reindex (operators)")
async def reindex_status(_: Operator, job: ReindexJobDep) -> dict:
    return job.status.as_dict()

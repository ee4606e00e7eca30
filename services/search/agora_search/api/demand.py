from datetime import UTC, datetime
from typing import Annotated, Literal

from agora_common.auth import Operator
from agora_common.errors import InvalidInput
from agora_common.openapi import errors
from agora_common.types import AnyInstant
from fastapi import APIRouter, Query

from agora_search.api.demand_schemas import DemandReport
from agora_search.api.deps import EsDep, SettingsDep
from agora_search.api.routes import _engine
from agora_search.domain import demand as d
from agora_search.service import demand as demand_service

router = APIRouter(tags=["demand"])


def _text(value: str | None, name: str, *, lower: bool = False) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    if not value:
        raise InvalidInput(f"{name} is empty", details={"field": name})
    return value.lower() if lower else value


@router.get(
    "/demand", response_model=DemandReport, summary="What members need and do not find, with event drafts (operators)",
    description="Per tag or SIG (or the whole community): the questions left unanswered longest, searches that "
    "found nothing, tags followed by many but answered by few, and trending tags. Every row carries `draft`, a body "
    "to post as it is to `POST /api/v1/events`, which creates it as a draft event (a Q&A session, or with "
    "`draft_kind=peer_exchange&industry=...` a peer exchange; with `city` an in-person one).",
    responses=errors(401, 403, 422),
)
async def demand_report(
    _: Operator,
    es: EsDep,
    settings: SettingsDep,
    tag: Annotated[str | None, Query(max_length=50, description="one tag (case-insensitive)")] = None,
    sig: Annotated[str | None, Query(max_length=100, description="one SIG's id")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="rows per section")] = 20,
    period_days: Annotated[int, Query(ge=1, le=365, description="the period answers and trends are counted over "
                                      "(at most half of AGORA_DEMAND_RETENTION_DAYS)")] = 7,
    min_followers: Annotated[int, Query(ge=1, le=1_000_000, description="under-served tags: at least this many "
                                        "followers")] = 1,
    draft_kind: Annotated[Literal["qa_session", "peer_exchange"], Query(description="what the drafts are")]
    = "qa_session",
    industry: Annotated[str | None, Query(max_length=200, description="the drafts' industry (needed for "
                                          "peer_exchange)")] = None,
    city: Annotated[str | None, Query(max_length=200, description="the drafts' city: in-person events")] = None,
    starts_at: Annotated[AnyInstant | None, Query(description="the drafts' start (ISO 8601; no offset = UTC); "
                                                  "default 14 days ahead at 12:00 UTC")] = None,
) -> dict:
    tag, sig = _text(tag, "tag", lower=True), _text(sig, "sig")
    industry, city = _text(industry, "industry"), _text(city, "city")
    most = settings.demand_retention_days // 2
    if period_days > most:
        raise InvalidInput(f"period_days is at most {most} (half the {settings.demand_retention_days} days the "
                           "activity is kept)", details={"field": "period_days", "max": most})
    if draft_kind == "peer_exchange" and not industry:
        raise InvalidInput("a peer_exchange draft needs an industry", details={"field": "industry"})
    now = datetime.now(UTC)
    if starts_at is not None:
        starts_at = (starts_at if starts_at.tzinfo else starts_at.replace(tzinfo=UTC)).astimezone(UTC)
    options = d.DraftOptions(kind=draft_kind, starts_at=starts_at or d.default_start(now), industry=industry,
                             city=city, sig_id=sig)
    return await _engine(demand_service.report(
        es=es, settings=settings, tag=tag, sig=sig, limit=limit, period_days=period_days,
        min_followers=min_followers, options=options, now=now))

from typing import Annotated, Any

from agora_common.auth import Operator
from agora_common.errors import InvalidInput
from agora_common.types import AnyInstant
from fastapi import APIRouter, Body, Query

from agora_points.api.deps import EngineDep, LeaderboardsDep, ProcessorDep
from agora_points.api.schemas import (
    AsOf,
    Leaderboard,
    LedgerPage,
    ReplayCheck,
    RulesInfo,
    Status,
    UserPoints,
    UserRank,
    WhatIf,
    Window,
)
from agora_points.domain.rules import RulesError, parse_rules
from agora_points.service import queries, replay

router = APIRouter(tags=["points"])

_ERRORS: dict[int | str, dict[str, Any]] = {422: {"description": "Invalid input (error format of the platform)"}}
UserId = Annotated[str, "user id"]
Scope = Annotated[str, Query(description="global, tag:<tag> or sig:<sig_id>", max_length=110)]
Period = Annotated[str | None, Query(description="a past period instead of the current one: YYYY-MM (monthly) "
                                                 "or YYYY-Www (weekly, ISO week)", max_length=8)]


@router.get("/users/{user_id}", response_model=UserPoints, summary="A user's points: total, this week, this month")
async def get_user_points(user_id: str, engine: EngineDep) -> dict:
    return queries.user_summary(engine=engine, user_id=user_id)


@router.get("/users/{user_id}/ledger", response_model=LedgerPage, responses=_ERRORS,
            summary="A user's ledger, newest first, with the reason of every entry")
async def get_ledger(user_id: str, engine: EngineDep, cursor: Annotated[str | None, Query(max_length=300)] = None,
                     limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    return queries.ledger_page(engine=engine, user_id=user_id, cursor=cursor, limit=limit)


@router.get("/leaderboards", response_model=Leaderboard, responses=_ERRORS,
            summary="Top users by scope and event-time window (competition ranking: ties share a rank)")
async def get_leaderboard(engine: EngineDep, leaderboards: LeaderboardsDep, processor: ProcessorDep,
                          scope: Scope = "global", window: Window = "all_time",
                          limit: Annotated[int, Query(ge=1, le=500)] = 20, period: Period = None) -> dict:
    return await queries.leaderboard(engine=engine, leaderboards=leaderboards, scope=scope, window=window,
                                     limit=limit, period=period, titles=processor.titles.held)


@router.get("/users/{user_id}/rank", response_model=UserRank,
            responses={**_ERRORS, 404: {"description": "The user has no rank on this board"}},
            summary="A user's rank on a board, with the people around them")
async def get_rank(user_id: str, engine: EngineDep, leaderboards: LeaderboardsDep, processor: ProcessorDep,
                   scope: Scope = "global", window: Window = "all_time",
                   around: Annotated[int, Query(ge=0, le=50)] = 2, period: Period = None) -> dict:
    return await queries.user_rank(engine=engine, leaderboards=leaderboards, user_id=user_id, scope=scope,
                                   window=window, around=around, period=period, titles=processor.titles.held)


@router.get("/users/{user_id}/as-of", response_model=AsOf, responses=_ERRORS,
            summary="A user's total as it stood at a past time (event time)")
async def get_as_of(user_id: str, engine: EngineDep,
                    time: Annotated[AnyInstant, Query(description="ISO 8601 with timezone")]) -> dict:
    if time.tzinfo is None:
        raise InvalidInput("time must carry a timezone, e.g. 2026-11-25T12:00:00Z", code="invalid_time")
    return queries.as_of(engine=engine, user_id=user_id, time=time)


@router.get("/status", response_model=Status, summary="The processor: readiness, events applied, start-up replay")
async def get_status(processor: ProcessorDep) -> dict:
    return {
        "ready": processor.ready, "failure": processor.failure, "rules_version": processor.rules.version,
        "events_applied": len(processor.engine.seen), "log_events_replayed_at_start": processor.caught_up_events,
        "events_from_snapshot": processor.events_from_snapshot,
        "snapshots_saved": processor.snapshots.saved if processor.snapshots else 0,
        "start_replay_seconds": processor.catch_up_seconds, "users": len(processor.engine.ledgers),
        "last_applied_at": processor.last_applied_at,
    }


@router.get("/rules", response_model=RulesInfo, summary="The rules in force")
async def get_rules(processor: ProcessorDep) -> dict:
    return processor.rules.model_dump()


@router.post("/what-if", response_model=WhatIf,
             responses={**_ERRORS, 401: {"description": "Not signed in"}, 403: {"description": "Not an operator"}},
             summary="Score the whole event log under proposed rules (YAML body); live figures are untouched")
async def post_what_if(
    _: Operator, processor: ProcessorDep,
    body: Annotated[str, Body(media_type="application/yaml", description="a rules document (YAML)", max_length=200_000)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    try:
        proposed = parse_rules(body)
    except RulesError as exc:
        raise InvalidInput(f"invalid rules: {exc}", code="invalid_rules") from exc
    return await replay.what_if(processor=processor, proposed=proposed, limit=limit)


@router.post("/replay-check", response_model=ReplayCheck,
             responses={401: {"description": "Not signed in"}, 403: {"description": "Not an operator"}},
             summary="Rebuild every total from the event log and compare with the live figures")
async def post_replay_check(_: Operator, processor: ProcessorDep) -> dict:
    return await replay.verify_replay(processor=processor)

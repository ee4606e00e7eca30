from typing import Annotated, Any

from agora_common.auth import Operator
from agora_common.errors import InvalidInput
from agora_common.types import AnyInstant
from fastapi import APIRouter, Body, Query

from agora_points.api.deps import LeaderboardsDep, OwnedBook, ProcessorDep
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
# per-user reads are answered by the worker holding the user (forwarded there by any other)
_OWNED: dict[int | str, dict[str, Any]] = {**_ERRORS, 503: {"description": "The user's partition is moving between "
                                                                         "workers; retry after Retry-After"}}
UserId = Annotated[str, "user id"]
Scope = Annotated[str, Query(description="global, tag:<tag> or sig:<sig_id>", max_length=110)]
Period = Annotated[str | None, Query(description="a past period instead of the current one: YYYY-MM (monthly) "
                                                 "or YYYY-Www (weekly, ISO week)", max_length=8)]


@router.get("/users/{user_id}", response_model=UserPoints, responses=_OWNED,
            summary="A user's points: total, this week, this month")
async def get_user_points(user_id: str, book: OwnedBook) -> dict:
    return queries.user_summary(book=book, user_id=user_id)


@router.get("/users/{user_id}/ledger", response_model=LedgerPage, responses=_OWNED,
            summary="A user's ledger, newest first, with the reason of every entry")
async def get_ledger(user_id: str, book: OwnedBook, cursor: Annotated[str | None, Query(max_length=300)] = None,
                     limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    return queries.ledger_page(book=book, user_id=user_id, cursor=cursor, limit=limit)


@router.get("/leaderboards", response_model=Leaderboard, responses=_ERRORS,
            summary="Top users by scope and event-time window (competition ranking: ties share a rank)")
async def get_leaderboard(leaderboards: LeaderboardsDep, processor: ProcessorDep,
                          scope: Scope = "global", window: Window = "all_time",
                          limit: Annotated[int, Query(ge=1, le=500)] = 20, period: Period = None) -> dict:
    return await queries.leaderboard(rules_version=processor.rules.version, leaderboards=leaderboards, scope=scope,
                                     window=window, limit=limit, period=period)


@router.get("/users/{user_id}/rank", response_model=UserRank,
            responses={**_OWNED, 404: {"description": "The user has no rank on this board"}},
            summary="A user's rank on a board, with the people around them")
async def get_rank(user_id: str, book: OwnedBook, leaderboards: LeaderboardsDep,
                   scope: Scope = "global", window: Window = "all_time",
                   around: Annotated[int, Query(ge=0, le=50)] = 2, period: Period = None) -> dict:
    return await queries.user_rank(book=book, leaderboards=leaderboards, user_id=user_id, scope=scope,
                                   window=window, around=around, period=period)


@router.get("/users/{user_id}/as-of", response_model=AsOf, responses=_OWNED,
            summary="A user's total as it stood at a past time (event time)")
async def get_as_of(user_id: str, book: OwnedBook,
                    time: Annotated[AnyInstant, Query(description="ISO 8601 with timezone")]) -> dict:
    if time.tzinfo is None:
        raise InvalidInput("time must carry a timezone, e.g. 2026-11-25T12:00:00Z", code="invalid_time")
    return queries.as_of(book=book, user_id=user_id, time=time)


@router.get("/status", response_model=Status,
            summary="This worker: readiness, its partitions per stage, what it has applied")
async def get_status(processor: ProcessorDep) -> dict:
    return {
        "ready": processor.ready, "failure": processor.failure, "rules_version": processor.rules.version,
        "events_applied": processor.deriver.events_applied, "users": processor.keeper.users,
        "stages": {
            m.name: {"group": m.group_id, "partitions": sorted(f"{tp.topic}/{tp.partition}" for tp in m.owned),
                     "restoring": sorted(f"{tp.topic}/{tp.partition}" for tp in m.restoring),
                     "standbys": {f"{tp.topic}/{tp.partition}": offset for tp, offset in sorted(
                         m.standby_reader.applied.items() if m.standby_reader else ())},
                     "records_handled": m.records_handled, "records_replayed": m.records_replayed,
                     "snapshots_written": m.snapshots_written, "snapshot_keys_written": m.snapshot_keys_written,
                     "snapshot_bytes_written": m.snapshot_bytes_written, "snapshot_keys_loaded": m.snapshot_keys_loaded,
                     "behind": m.behind_by(), "caught_up": m.caught_up}
            for m in processor.members},
        "state_cache": {"cached_mib": round(processor.store.cached_mib, 2), "budget_mib": processor.store.cache_mib,
                        "evictions": processor.store.evictions},
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
             summary="Rebuild every total from the event log and compare with this worker's users and every board")
async def post_replay_check(_: Operator, processor: ProcessorDep, leaderboards: LeaderboardsDep) -> dict:
    return await replay.verify_replay(processor=processor, leaderboards=leaderboards)

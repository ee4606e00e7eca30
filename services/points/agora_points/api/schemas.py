from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Window = Literal["all_time", "monthly", "weekly"]


class UserPoints(BaseModel):
    user_id: str
    total: int
    weekly: int
    monthly: int
    week: str
    month: str
    entries: int
    excluded_from_leaderboards: bool
    rules_version: str


class LedgerEntry(BaseModel):
    id: str
    kind: Literal["award", "reversal", "regrant"]
    points: int
    base_points: int
    cap_cut: int
    floor_cut: int = Field(description="what the floor changed: > 0 the part of a penalty it absorbed; < 0 the part "
                           "of a give-back that repays what it had absorbed of an earlier reversal")
    total_after: int
    time: datetime
    rule_id: str
    rule_description: str
    rules_version: str
    source_event_type: str
    source_event_id: str
    awarding_event_id: str
    reverses: str | None
    tags: list[str]
    sig_id: str | None


class LedgerPage(BaseModel):
    user_id: str
    entries: list[LedgerEntry]
    next_cursor: str | None


class BoardRow(BaseModel):
    rank: int
    user_id: str
    points: int
    display_name: str | None = Field(default=None, description="as the member last set it (null: not known yet)")
    titles: list[str] = Field(default_factory=list, description="honor titles the member's points have earned")


class Leaderboard(BaseModel):
    scope: str
    window: Window
    period: str | None
    rules_version: str
    participants: int
    entries: list[BoardRow]


class UserRank(BaseModel):
    user_id: str
    scope: str
    window: Window
    rank: int
    points: int
    participants: int
    neighbours: list[BoardRow]


class AsOf(BaseModel):
    user_id: str
    time: datetime
    total: int
    entries_counted: int
    rules_version: str


class RuleDiff(BaseModel):
    rule_id: str
    current: int
    proposed: int


class UserDiff(BaseModel):
    user_id: str
    current: int
    proposed: int
    delta: int
    titles_current: list[str]
    titles_proposed: list[str]


class WhatIf(BaseModel):
    current_version: str
    proposed_version: str
    events_scored: int
    users: int
    users_changed: int
    total_current: int
    total_proposed: int
    by_rule: list[RuleDiff]
    changes: list[UserDiff]
    seconds: float


class Mismatch(BaseModel):
    user_id: str
    live: int
    replayed: int


class ReplayCheck(BaseModel):
    identical: bool
    events_in_log: int
    events_replayed: int
    users: int
    users_checked: int = Field(description="users held by this worker, compared one by one (every worker holds "
                                           "some: ask each for all of them)")
    mismatches: list[Mismatch]
    boards_checked: int = Field(description="leaderboards (scope x window) compared with Redis")
    boards_differing: list[str] = Field(description="boards whose Redis members differ from the rebuild, as scope|window")
    seconds: float


class RulesInfo(BaseModel):
    version: str
    description: str
    daily_cap: int | None
    floor: int | None
    rules: list[dict]
    titles: list[dict]


class StageStatus(BaseModel):
    group: str = Field(description="the consumer group every worker of this stage joins")
    partitions: list[str] = Field(description="the partitions this worker has, as topic/partition")
    restoring: list[str] = Field(description="partitions being read to rebuild their state, from their start, a "
                                             "snapshot's or a standby copy's offset")
    standbys: dict[str, int] = Field(description="warm copies kept of partitions other workers own: the next offset "
                                                 "each has applied (stateful stages with standby replicas)")
    records_handled: int
    records_replayed: int = Field(description="records read again by restores, their outputs already sent")
    snapshots_written: int = Field(description="state snapshots this worker wrote of its partitions")
    snapshot_keys_written: int = Field(description="state keys in them (a snapshot of changes holds only those "
                                       "changed since the one before)")
    snapshot_bytes_written: int = Field(description="bytes of state in them")
    snapshot_keys_loaded: int = Field(description="state keys its restores loaded from snapshots")
    behind: int | None = Field(description="records of its partitions not handled yet (None: not known yet)")
    caught_up: bool = Field(description="its partitions were once read to their end (after the stage before it)")


class StateCache(BaseModel):
    cached_mib: float = Field(description="the state held decoded in memory, as estimated")
    budget_mib: float = Field(description="what it may hold (POINTS_STATE_CACHE_MIB); the rest is on disk")
    evictions: int = Field(description="values moved out of memory to make room, since the worker started: once "
                                       "the budget is full, every read of a value not held costs a disk read")


class Status(BaseModel):
    ready: bool
    failure: str | None
    rules_version: str
    events_applied: int = Field(description="distinct domain events in this worker's stage-1 partitions")
    users: int = Field(description="users in this worker's stage-2 partitions")
    stages: dict[str, StageStatus] = Field(description="route (stage 0), derive (stage 1), book (stage 2)")
    state_cache: StateCache
    last_applied_at: datetime | None

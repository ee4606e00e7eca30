"""Read-side use cases: ledgers and totals from the book holding the user (stage 2), ranked boards from Redis."""

import re
from datetime import UTC, datetime
from itertools import islice

from agora_common.errors import InvalidInput, NotFound
from agora_common.types import EARLIEST, LATEST

from agora_points.adapters.leaderboards import Leaderboards, Row
from agora_points.domain.book import Book, Entry
from agora_points.domain.periods import from_us, to_us, window_key

WINDOWS = ("all_time", "monthly", "weekly")
_SCOPE = re.compile(r"^(global|tag:[^\s]{1,100}|sig:[^\s]{1,100})$")


def check_scope(scope: str) -> str:
    if not _SCOPE.match(scope):
        raise InvalidInput("scope must be global, tag:<tag> or sig:<sig_id>", code="invalid_scope")
    return scope


def user_summary(*, book: Book, user_id: str, now: datetime | None = None) -> dict:
    now = now or datetime.now(UTC)
    ledger = book.ledgers.peek(user_id)
    return {
        "user_id": user_id,
        "total": book.total(user_id),
        "weekly": book.window_points(user_id, "global", window_key("weekly", now)),
        "monthly": book.window_points(user_id, "global", window_key("monthly", now)),
        "week": window_key("weekly", now)[1:],
        "month": window_key("monthly", now)[1:],
        "entries": ledger.count if ledger else 0,
        "excluded_from_leaderboards": user_id in book.excluded,
        "rules_version": book.rules.version,
    }


def entry_view(book: Book, e: Entry) -> dict:
    rule = e.award.rule
    return {
        "id": e.id,
        "kind": e.kind,
        "points": e.points,
        "base_points": e.base,
        "cap_cut": e.base - e.capped if e.kind != "reversal" else 0,
        "floor_cut": e.points - e.capped,  # > 0 absorbed of a penalty; < 0 a give-back repaying floor debt
        "total_after": e.total_after,
        "time": from_us(e.time_us),
        "rule_id": rule.id,
        "rule_description": rule.description,
        "rules_version": book.rules.version,
        "source_event_type": e.source_event_type,
        "source_event_id": e.source_event_id,
        "awarding_event_id": e.award.event_id,
        "reverses": ":".join(e.reverses) if e.reverses else None,
        "tags": [s[4:] for s in e.award.scopes if s.startswith("tag:")],
        "sig_id": next((s[4:] for s in e.award.scopes if s.startswith("sig:")), None),
    }


def ledger_page(*, book: Book, user_id: str, cursor: str | None, limit: int) -> dict:
    """Newest first. The cursor is the id of the last entry of the previous page."""
    end = None
    if cursor:
        key = tuple(cursor.split(":"))
        entry = book.entry(user_id, key) if len(key) in (2, 3) else None
        if entry is None:
            raise InvalidInput("unknown cursor (the entry no longer exists); start again without one",
                               code="invalid_cursor")
        end = entry.sk
    page = list(islice(book.entries(user_id, end=end, reverse=True), limit + 1))  # one more: is there a next page
    more = len(page) > limit
    page = page[:limit]
    return {
        "user_id": user_id,
        "entries": [entry_view(book, e) for e in page],
        "next_cursor": page[-1].id if page and more else None,
    }


_PERIOD = {"monthly": re.compile(r"^\d{4}-(0[1-9]|1[0-2])$"), "weekly": re.compile(r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$")}


def _key(window: str, now: datetime, period: str | None) -> str:
    if period is None:
        return window_key(window, now)
    if window == "all_time" or not _PERIOD[window].match(period):
        raise InvalidInput("period is YYYY-MM for window=monthly, YYYY-Www (ISO week) for window=weekly",
                           code="invalid_period")
    if not EARLIEST.year <= int(period[:4]) <= LATEST.year:  # the range of every date the platform accepts
        raise InvalidInput(f"period must be between {EARLIEST.year} and {LATEST.year}", code="invalid_period")
    return ("m" if window == "monthly" else "w") + period


def _row(row: Row) -> dict:
    return {"rank": row.rank, "user_id": row.user_id, "points": row.points, "display_name": row.display_name,
            "titles": sorted(row.titles)}


async def leaderboard(*, rules_version: str, leaderboards: Leaderboards, scope: str, window: str, limit: int,
                      now: datetime | None = None, period: str | None = None) -> dict:
    now = now or datetime.now(UTC)
    key = _key(window, now, period)
    participants, rows = await leaderboards.top((check_scope(scope), key), limit)
    return {
        "scope": scope, "window": window, "period": None if key == "all" else key[1:],
        "rules_version": rules_version, "participants": participants,
        "entries": [_row(r) for r in rows],
    }


async def user_rank(*, book: Book, leaderboards: Leaderboards, user_id: str, scope: str, window: str,
                    around: int, now: datetime | None = None, period: str | None = None) -> dict:
    now = now or datetime.now(UTC)
    found = await leaderboards.around((check_scope(scope), _key(window, now, period)), user_id, around)
    if found is None:
        reason = "is excluded from leaderboards" if user_id in book.excluded else "has no points here"
        raise NotFound(f"user {user_id} {reason} ({scope}, {window})", code="not_ranked")
    me, participants, rows = found
    return {
        "user_id": user_id, "scope": scope, "window": window, "rank": me.rank, "points": me.points,
        "participants": participants,
        "neighbours": [_row(r) for r in rows],
    }


def as_of(*, book: Book, user_id: str, time: datetime) -> dict:
    total, entries = book.as_of(user_id, to_us(time))
    return {"user_id": user_id, "time": time, "total": total, "entries_counted": len(entries),
            "rules_version": book.rules.version}

"""Event-time windows: UTC days (the daily cap), ISO weeks and calendar months (leaderboards)."""

from datetime import UTC, datetime
from functools import lru_cache

DAY_US = 86_400_000_000


def to_us(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000)


def from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, UTC)


@lru_cache(maxsize=8192)
def windows_of_day(day: int) -> tuple[str, str]:
    """(month key, week key) of a UTC day number, e.g. ('m2026-11', 'w2026-W48')."""
    d = datetime.fromtimestamp(day * 86_400, UTC)
    year, week, _ = d.isocalendar()
    return f"m{d.year:04d}-{d.month:02d}", f"w{year:04d}-W{week:02d}"


def window_key(window: str, at: datetime) -> str:
    """The key of the `window` ("all_time", "monthly", "weekly") that contains `at`."""
    if window == "all_time":
        return "all"
    month, week = windows_of_day(to_us(at) // DAY_US)
    return month if window == "monthly" else week

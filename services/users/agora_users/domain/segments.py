"""Member segments and how each is defined (settings give the windows and thresholds)."""

from typing import Literal

Segment = Literal["ordinary", "active", "core", "contributor"]
SEGMENTS: tuple[Segment, ...] = ("ordinary", "active", "core", "contributor")


def definitions(*, active_days: int, core_days: int, core_min: int) -> dict[str, str]:
    return {
        "active": f"at least one action (post, vote, edit, flag, event registration, SIG join, follow, ...) "
        f"in the last {active_days} days, by event time",
        "core": f"active, and at least {core_min} contributions (questions, answers, comments, published "
        f"articles, resources, organised events, talks) in the last {core_days} days",
        "contributor": "at least one accepted answer, published article or talk as speaker (ever, unless "
        "withdrawn)",
        "ordinary": "every other member: neither active nor a contributor",
    }

"""Attendance figures for operators.

attendance_rate = checked in / confirmed. no_show_rate = confirmed but not checked in / confirmed, and only
for ended events: before the end, someone who has not arrived yet is not a no-show.
"""


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def event_figures(counts: dict, *, ended: bool, capacity: int | None) -> dict:
    confirmed = counts.get("confirmed", 0)
    checked_in = counts.get("checked_in", 0)
    return {
        "confirmed": confirmed,
        "waitlisted": counts.get("waitlisted", 0),
        "cancelled": counts.get("cancelled", 0),
        "checked_in": checked_in,
        "capacity": capacity,
        "fill_rate": rate(confirmed, capacity) if capacity else None,
        "attendance_rate": rate(checked_in, confirmed),
        "no_show_rate": rate(confirmed - checked_in, confirmed) if ended else None,
    }


def series_figures(occurrences: list[dict]) -> dict:
    """occurrences: event_figures dicts plus "ended"; rates over the ended occurrences only."""
    ended = [o for o in occurrences if o["ended"]]
    confirmed_ended = sum(o["confirmed"] for o in ended)
    checked_ended = sum(o["checked_in"] for o in ended)
    return {
        "occurrences": len(occurrences),
        "ended_occurrences": len(ended),
        "confirmed": sum(o["confirmed"] for o in occurrences),
        "waitlisted": sum(o["waitlisted"] for o in occurrences),
        "cancelled": sum(o["cancelled"] for o in occurrences),
        "checked_in": sum(o["checked_in"] for o in occurrences),
        "attendance_rate": rate(checked_ended, confirmed_ended),
        "no_show_rate": rate(confirmed_ended - checked_ended, confirmed_ended),
    }

"""What each kind of community event needs beyond the common fields."""

from typing import Any

from agora_common.errors import InvalidInput

KINDS = ("qa_session", "live_stream", "meetup", "peer_exchange", "training", "competition")

# kind -> fields that must be present (non-empty) for an event of that kind
REQUIRED: dict[str, tuple[str, ...]] = {
    "qa_session": ("topic",),
    "live_stream": (),
    "meetup": ("city", "venue"),
    "peer_exchange": ("industry",),
    "training": (),
    "competition": (),
}


def check_details(kind: str, fields: dict[str, Any]) -> None:
    """Raise InvalidInput naming every missing field for this kind (and offline peer exchanges need a city)."""
    missing = [f for f in REQUIRED[kind] if not fields.get(f)]
    if kind == "peer_exchange" and fields.get("online") is False and not fields.get("city"):
        missing.append("city")
    if kind == "meetup" and fields.get("online"):
        raise InvalidInput("a meetup is an offline event: online must be false", details={"field": "online"})
    if missing:
        raise InvalidInput(
            f"a {kind} event needs: {', '.join(missing)}", details={"kind": kind, "missing": missing}
        )
    starts, ends = fields.get("starts_at"), fields.get("ends_at")
    if starts and ends and ends <= starts:
        raise InvalidInput("ends_at must be after starts_at", details={"field": "ends_at"})

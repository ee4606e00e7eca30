"""Database documents to response bodies."""

from agora_common.auth import Principal

from agora_events.domain.lifecycle import allowed_actions
from agora_events.service.context import is_manager


def event_read(doc: dict) -> dict:
    counts = doc["counts"]
    capacity = doc.get("capacity")
    return {
        **doc,
        "id": doc["_id"],
        "allowed_actions": [a.value for a in allowed_actions(doc["status"])],
        "spots_left": None if capacity is None else max(capacity - counts["confirmed"], 0),
    }


def registration_read(reg: dict, *, viewer: Principal, event: dict | None = None) -> dict:
    """The check-in code is shown to its owner (and to organisers), never to anyone else."""
    out = {**reg, "id": reg["_id"]}
    if reg["user_id"] != viewer.id and not (event and is_manager(event, viewer)):
        out["checkin_code"] = None
    return out


def with_id(doc: dict) -> dict:
    return {**doc, "id": doc["_id"]}

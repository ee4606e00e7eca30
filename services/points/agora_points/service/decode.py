"""Bytes from the broker -> `Fact`, or `BadEvent` (dead-lettered). The hot path: orjson, and full pydantic
validation only for the event types the engine reads (others are skipped after the envelope check)."""

from datetime import datetime

import orjson

from agora_common.events import EVENT_TYPES, BadEvent
from agora_points.domain.engine import CHAINS, TOGGLES, USER_STATUS, Fact
from agora_points.domain.periods import to_us
from agora_points.domain.rules import RuleSet

_NESTED = frozenset({"CompetitionRanked"})
_ENVELOPE_FIELDS = ("id", "type", "source", "subject", "version", "time", "data")


def relevant_types(rules: RuleSet) -> frozenset[str]:
    return frozenset({*rules.by_event(), *CHAINS, *TOGGLES, *USER_STATUS})


def decode(raw: bytes | None, relevant: frozenset[str]) -> Fact | None:
    """A Fact for a relevant event, None for a valid event the engine does not need; raises BadEvent."""
    if not raw:
        raise BadEvent("empty", "empty message")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadEvent("malformed_envelope", f"not JSON: {exc}") from exc
    if not isinstance(doc, dict) or any(k not in doc for k in _ENVELOPE_FIELDS):
        raise BadEvent("malformed_envelope", "envelope lacks one of " + ", ".join(_ENVELOPE_FIELDS))
    event_type, data, event_id = doc["type"], doc["data"], doc["id"]
    if not isinstance(event_id, str) or not event_id or not isinstance(data, dict):
        raise BadEvent("malformed_envelope", "envelope id must be a string and data an object")
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        raise BadEvent("unknown_type", f"unknown event type {event_type!r}")
    if event_type not in relevant:
        return None
    try:
        time = datetime.fromisoformat(doc["time"])
        version = int(doc["version"])
    except (TypeError, ValueError) as exc:
        raise BadEvent("malformed_envelope", f"bad time or version: {exc}") from exc
    if time.tzinfo is None:
        raise BadEvent("malformed_envelope", "time must carry a timezone")
    try:
        payload = cls.model_validate(data)
    except Exception as exc:  # pydantic ValidationError
        raise BadEvent("invalid_payload", f"{event_type} payload invalid: {exc}") from exc
    # flat payloads: the validated attributes as they are (cheaper than model_dump); nested ones dumped
    data = payload.model_dump(mode="json") if event_type in _NESTED else payload.__dict__
    return Fact(event_id, event_type, cls.source, to_us(time), version, data)

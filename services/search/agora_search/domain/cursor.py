"""Opaque pagination cursors: the point in time to read from, the last hit's sort values, and the query they belong to."""

import base64
import json
from dataclasses import dataclass
from typing import Any

from agora_common.errors import InvalidInput


@dataclass(frozen=True)
class Cursor:
    pit_id: str | None
    search_after: list[Any]
    fingerprint: str


def encode(cursor: Cursor) -> str:
    raw = json.dumps({"p": cursor.pit_id, "a": cursor.search_after, "f": cursor.fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        cursor = Cursor(pit_id=data["p"], search_after=data["a"], fingerprint=data["f"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("cursor is not valid: pass next_cursor from a previous response unchanged",
                           code="invalid_cursor") from exc
    if (
        not isinstance(cursor.search_after, list)
        or not cursor.search_after
        or not isinstance(cursor.fingerprint, str)
        or not (cursor.pit_id is None or isinstance(cursor.pit_id, str))
        or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in cursor.search_after)
    ):
        raise InvalidInput("cursor is not valid: pass next_cursor from a previous response unchanged",
                           code="invalid_cursor")
    return cursor

"""Opaque keyset cursors for listings: the sort key and id of the last item, base64-encoded JSON."""

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agora_common.errors import InvalidInput

# sort name -> (post field sorted on, descending); ties broken by _id (UUIDv7, so creation order)
SORTS: dict[str, str | None] = {"newest": None, "votes": "score", "active": "last_activity_at", "unanswered": None}


@dataclass(frozen=True)
class Cursor:
    sort: str
    key: Any
    id: str


def encode(sort: str, doc: dict) -> str:
    field = SORTS[sort]
    key = doc.get(field) if field else None
    if isinstance(key, datetime):
        key = {"$dt": int(key.timestamp() * 1000)}
    raw = json.dumps({"s": sort, "k": key, "i": doc["_id"]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str, sort: str) -> Cursor:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        key = raw["k"]
        if isinstance(key, dict):
            key = datetime.fromtimestamp(key["$dt"] / 1000, UTC)
        cursor = Cursor(sort=raw["s"], key=key, id=str(raw["i"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("invalid cursor", code="invalid_cursor") from exc
    if cursor.sort != sort:
        raise InvalidInput("the cursor belongs to another sort order", code="invalid_cursor")
    return cursor


def after(cursor: Cursor | None, sort: str) -> dict:
    """Mongo filter for the items strictly after the cursor in (field desc, _id desc) order."""
    if cursor is None:
        return {}
    field = SORTS[sort]
    if field is None:
        return {"_id": {"$lt": cursor.id}}
    return {"$or": [{field: {"$lt": cursor.key}}, {field: cursor.key, "_id": {"$lt": cursor.id}}]}


def order(sort: str) -> list[tuple[str, int]]:
    field = SORTS[sort]
    return [(field, -1), ("_id", -1)] if field else [("_id", -1)]

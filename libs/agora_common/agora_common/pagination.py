"""One way to page through a MongoDB listing: keyset cursors.

    docs, next_cursor = await keyset_page(db.events, query, listing="events", order=[("starts_at", 1), ("_id", 1)],
                                          limit=limit, cursor=cursor)
    return Page[EventRead](items=[...], next_cursor=next_cursor)

A cursor is opaque to clients: the sort values and id of the last item returned, base64-encoded JSON, bound to
its listing and sort order (a cursor of another one is a 422 `invalid_cursor`). The next page starts strictly after it, so items added or removed meanwhile never shift a page
(offsets repeat or skip items then) and a page costs an index seek however deep it is (an offset scans and
drops every item before it). The last page has `next_cursor: null`.
"""

import base64
import json
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from pymongo.asynchronous.collection import AsyncCollection

from agora_common.errors import InvalidInput

T = TypeVar("T")
Order = list[tuple[str, int]]  # (field, 1 ascending | -1 descending), ending with ("_id", ...) for ties


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


def encode_cursor(listing: str, order: Order, doc: dict) -> str:
    values = [_plain(_get(doc, field)) for field, _ in order]
    raw = json.dumps({"o": _order_name(listing, order), "v": values}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, listing: str, order: Order) -> list[Any]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        values = [_typed(v) for v in raw["v"]]
        same_order = raw["o"] == _order_name(listing, order) and len(values) == len(order)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput("invalid cursor", code="invalid_cursor") from exc
    if not same_order:
        raise InvalidInput("the cursor belongs to another listing or sort order", code="invalid_cursor")
    return values


def after(order: Order, values: list[Any]) -> dict:
    """The filter for the items strictly after `values` in `order` (lexicographic over the sort fields)."""
    branches = []
    for i, (field, direction) in enumerate(order):
        branch = {f: values[j] for j, (f, _) in enumerate(order[:i])}
        branch[field] = {"$gt" if direction > 0 else "$lt": values[i]}
        branches.append(branch)
    return {"$or": branches}


async def keyset_page(
    collection: AsyncCollection, query: dict, *, listing: str, order: Order, limit: int, cursor: str | None,
    projection: dict | None = None,
) -> tuple[list[dict], str | None]:
    """One page of `query` in `order`, and the cursor of the next page (None when this one is the last).
    `listing` names what is listed (e.g. "questions:votes"), so a cursor is only good for its own listing."""
    if cursor:
        query = {"$and": [query, after(order, decode_cursor(cursor, listing, order))]}
    docs = await collection.find(query, projection).sort(order).limit(limit + 1).to_list()
    more = len(docs) > limit
    docs = docs[:limit]
    return docs, encode_cursor(listing, order, docs[-1]) if more else None


def _order_name(listing: str, order: Order) -> str:
    return listing + ":" + ",".join(f"{'-' if direction < 0 else ''}{field}" for field, direction in order)


def _get(doc: dict, dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.astimezone(UTC).isoformat()}
    return value


def _typed(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$dt"}:
        return datetime.fromisoformat(value["$dt"])
    if isinstance(value, dict | list):
        raise TypeError("cursor values are scalars")
    return value

"""Keyset cursors: opaque, bound to their listing and order, exact for datetimes, and the filter that starts
the next page strictly after the last item."""

from datetime import UTC, datetime

import pytest
from agora_common.errors import InvalidInput
from agora_common.pagination import after, decode_cursor, encode_cursor

ACTIVE = [("last_activity_at", -1), ("_id", -1)]
NEWEST = [("_id", -1)]


def test_cursor_round_trip_and_filters():
    at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    token = encode_cursor("questions:active", ACTIVE, {"_id": "id9", "last_activity_at": at})
    values = decode_cursor(token, "questions:active", ACTIVE)
    assert values == [at, "id9"]
    assert after(ACTIVE, values) == {
        "$or": [{"last_activity_at": {"$lt": at}}, {"last_activity_at": at, "_id": {"$lt": "id9"}}]
    }
    newest = encode_cursor("questions:newest", NEWEST, {"_id": "x"})
    assert after(NEWEST, decode_cursor(newest, "questions:newest", NEWEST)) == {"$or": [{"_id": {"$lt": "x"}}]}
    ascending = [("starts_at", 1), ("_id", 1)]
    assert after(ascending, [at, "e1"]) == {
        "$or": [{"starts_at": {"$gt": at}}, {"starts_at": at, "_id": {"$gt": "e1"}}]}


@pytest.mark.parametrize("token", ["%%%", "e30", "bm90IGpzb24"])  # garbage, {}, "not json"
def test_a_malformed_cursor_is_a_422(token):
    with pytest.raises(InvalidInput) as err:
        decode_cursor(token, "questions:votes", [("score", -1), ("_id", -1)])
    assert err.value.code == "invalid_cursor"


def test_a_cursor_of_another_listing_or_order_is_refused():
    token = encode_cursor("questions:newest", NEWEST, {"_id": "x"})
    with pytest.raises(InvalidInput):
        decode_cursor(token, "questions:unanswered", NEWEST)  # same order, another listing
    with pytest.raises(InvalidInput):
        decode_cursor(token, "questions:newest", ACTIVE)

"""Identifiers: UUIDv7 strings sort by creation time, so event ids double as an ordering key."""

from datetime import UTC, datetime

import uuid6


def new_id() -> str:
    return str(uuid6.uuid7())


def utcnow() -> datetime:
    return datetime.now(UTC)

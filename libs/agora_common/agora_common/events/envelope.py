"""The event envelope every Agora domain event travels in, and the registry of typed event payloads.

A producer builds a typed payload (a `DomainEvent` subclass) and wraps it with `Envelope.wrap`; a consumer
reads bytes with `Envelope.from_bytes` and gets the typed payload back with `envelope.payload()`.
Unknown types and payloads that fail validation raise `BadEvent`, which consumers dead-letter.

Schemas evolve by version: a type's `schema_version` rises when its payload changes, and an `@upcaster` turns
the data of the version before into the current shape, so consumers read old logs (replays, reindexing) as
current events. An event newer than the consumer's schema is refused (dead-lettered) rather than misread.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from agora_common.ids import new_id

ENVELOPE_SCHEMA_VERSION = 1


class BadEvent(Exception):
    """An event that cannot be understood: unknown type, malformed envelope or invalid payload."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class DomainEvent(BaseModel):
    """Base of every typed event payload. Subclasses set `event_type` and `source`."""

    model_config = ConfigDict(extra="ignore", frozen=True)  # extra=ignore: newer producers may add fields

    event_type: ClassVar[str]
    source: ClassVar[str]
    schema_version: ClassVar[int] = 1


EVENT_TYPES: dict[str, type[DomainEvent]] = {}
# (event type, schema version) -> function that turns that version's data into the next version's
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


def register(cls: type[DomainEvent]) -> type[DomainEvent]:
    """Class decorator: makes the payload type known to every consumer by its `event_type`."""
    cls.event_type = cls.__name__
    if cls.event_type in EVENT_TYPES and EVENT_TYPES[cls.event_type] is not cls:
        raise RuntimeError(f"event type {cls.event_type} registered twice")
    EVENT_TYPES[cls.event_type] = cls
    return cls


def upcaster(event_type: type[DomainEvent], from_version: int) -> Callable[[Callable], Callable]:
    """Decorator: the function turns `event_type`'s data at `from_version` into `from_version + 1`."""

    def register_upcaster(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
        UPCASTERS[(event_type.event_type, from_version)] = fn
        return fn

    return register_upcaster


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="UUIDv7; unique and time-sortable; consumers deduplicate on it")
    type: str = Field(description="name of the payload type, e.g. QuestionAsked")
    source: str = Field(description="service that published it: content, users, events, points")
    subject: str = Field(description="aggregate id; also the Kafka key, so one aggregate's events stay in order")
    version: int = Field(ge=1, description="the aggregate's version after this change")
    time: AwareDatetime = Field(description="when it happened (event time)")
    actor: str | None = Field(default=None, description="user who caused it, if any")
    schema_version: int = Field(default=1, ge=1)
    data: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        event: DomainEvent,
        *,
        subject: str,
        version: int,
        actor: str | None = None,
        time: datetime | None = None,
        id: str | None = None,
    ) -> Self:
        return cls(
            id=id or new_id(),
            type=event.event_type,
            source=event.source,
            subject=subject,
            version=version,
            time=time or datetime.now(UTC),
            actor=actor,
            schema_version=event.schema_version,
            data=event.model_dump(mode="json"),
        )

    def payload(self) -> DomainEvent:
        cls = EVENT_TYPES.get(self.type)
        if cls is None:
            raise BadEvent("unknown_type", f"unknown event type {self.type!r}")
        if self.schema_version > cls.schema_version:
            raise BadEvent("unsupported_schema_version",
                           f"{self.type} schema version {self.schema_version} is newer than this consumer's "
                           f"{cls.schema_version}: upgrade the consumer, then replay the dead letter")
        data = self.data
        for version in range(self.schema_version, cls.schema_version):
            data = UPCASTERS[(self.type, version)](data)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise BadEvent("invalid_payload", f"{self.type} payload invalid: {exc.errors(include_url=False)}") from exc

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> Self:
        if not raw:
            raise BadEvent("empty", "empty message")
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise BadEvent("malformed_envelope", f"malformed envelope: {exc.errors(include_url=False)}") from exc

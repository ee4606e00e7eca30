"""Field types every service's API accepts the same way."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 12, 31, 23, 59, 59, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    # far dates overflow calendar arithmetic (recurrences, iCalendar, windows) and no community plans that far
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not EARLIEST <= aware <= LATEST:
        raise ValueError(f"must be between {EARLIEST.date()} and {LATEST.date()}")
    return value


# A point in time a client sends: with its time zone, and between 2000 and 2200 (anything else is a clear 422).
Instant = Annotated[AwareDatetime, AfterValidator(_in_range),
                    Field(examples=["2030-03-05T12:00:00+08:00"], description="ISO 8601 with a time zone, 2000–2200")]
# The same range where a time zone is optional (query filters that read a bare date or time as UTC).
AnyInstant = Annotated[datetime, AfterValidator(_in_range)]

"""UTC time: every timestamp in formcase is aware UTC and leaves as ISO 8601 with `Z`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat_z(value: datetime) -> str:
    """`2024-01-15T10:30:00Z`: whole seconds, as Penbox writes them."""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# The last instant a datetime can hold, in UTC.
LAST_INSTANT = datetime.max.replace(tzinfo=UTC)


def parse_datetime(text: str) -> datetime:
    """ISO 8601 date or date-time; a date means midnight UTC, a naive time means UTC."""
    text = text.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO 8601 date or date-time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is in year 10000 in UTC
        raise ValueError(
            f"'{text}' is outside the dates that can be stored "
            "(0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z)"
        ) from None


# A datetime field of an API shape: serialised as `2024-01-15T10:30:00Z`, and documented as
# the date-time it is (a plain serializer alone would document a bare string).
UTCTimestamp = Annotated[
    datetime,
    PlainSerializer(isoformat_z, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def _input_timestamp(value: object) -> object:
    return parse_datetime(value) if isinstance(value, str) else value


# A datetime a caller sends: ISO date or date-time; no zone means UTC.
InputTimestamp = Annotated[datetime, BeforeValidator(_input_timestamp)]

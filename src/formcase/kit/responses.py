"""JSON built by the service as plain data and encoded by orjson: for the hot read paths,
where building and validating a model per item would cost more than the query."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.responses import Response

# Timestamps leave as `2024-01-15T10:30:00Z`: UTC, `Z`, whole seconds (the Penbox format).
OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS


def _default(value: Any) -> str:
    # asyncpg hands out its own UUID class, which orjson does not know; it prints the same.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def api_json(content: Any) -> bytes:
    """`content` encoded as the API sends it (also what webhooks and events freeze)."""
    return orjson.dumps(content, option=OPTIONS, default=_default)


class JSONBytes(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return api_json(content)

"""Free-form JSON a caller sends (`external_args`, prefill `data`, answers, case data) checked
before it is stored or echoed, so that what the database and the JSON encoder cannot take is a
400 naming the field, not a 500 later:

- integers inside -2**63..2**63-1: orjson (the encoder of the database and of the answers) and
  PostgreSQL's jsonb take no wider ones;
- no lone UTF-16 surrogate (`"\\ud800"`, valid JSON text but no character): it cannot be
  encoded as UTF-8, so neither stored nor sent back;
- no NaN or Infinity (Python's JSON reader takes them; they are not JSON);
- nesting and size bounded (settings `max_json_value_depth`, `max_json_value_bytes`): orjson
  stops at 255 levels, and one large value would be paid again in every list that shows it.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from formcase.config import Settings
from formcase.kit.errors import APIError, BadRequest

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


_SURROGATE = "holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not a character"


def has_surrogate(text: str) -> bool:
    return not text.isascii() and any("\ud800" <= char <= "\udfff" for char in text)


def _refuse(path: str, pointer: str, problem: str) -> BadRequest:
    # A key may hold a surrogate: the error's JSON writes it out (kit.errors.printable).
    message = f"Field '{path}' {problem}."
    return BadRequest(message, details=[{"detail": message, "source": {"pointer": pointer}}])


def check_text(value: str, field: str) -> None:
    """A string that must be storable: no lone surrogate."""
    if has_surrogate(value):
        raise _refuse(field, "/" + field.replace(".", "/"), _SURROGATE)


def check_value(value: Any, field: str, settings: Settings) -> None:
    """Refuse, naming the path of the first offending part (`external_args.crm.ids[2]`), a
    JSON value that cannot be stored as it is (400); then one larger than the setting
    `max_json_value_bytes` as JSON (413).

    Walked with a stack, not recursion: the value may be nested as deep as the request's
    parser allowed."""
    max_depth, max_bytes = settings.max_json_value_depth, settings.max_json_value_bytes
    stack: list[tuple[Any, str, str, int]] = [(value, field, "/" + field, 0)]
    while stack:
        item, path, pointer, depth = stack.pop()
        if isinstance(item, str):
            if has_surrogate(item):
                raise _refuse(path, pointer, _SURROGATE)
        elif isinstance(item, bool) or item is None:
            pass
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                raise _refuse(
                    path,
                    pointer,
                    f"is an integer outside the 64-bit range ({INT64_MIN} to {INT64_MAX}); "
                    "send larger numbers as text",
                )
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise _refuse(path, pointer, "is not a JSON number (NaN or Infinity)")
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise _refuse(
                    path, pointer, f"is nested more than {max_depth} levels deep (the limit)"
                )
            if isinstance(item, dict):
                if any(has_surrogate(key) for key in item):
                    raise _refuse(path, pointer, f"has a key that {_SURROGATE}")
                # Pushed last to first, so that the first offending part is the one named.
                for key, child in reversed(item.items()):
                    stack.append((child, f"{path}.{key}", f"{pointer}/{key}", depth + 1))
            else:
                for index in range(len(item) - 1, -1, -1):
                    stack.append((item[index], f"{path}[{index}]", f"{pointer}/{index}", depth + 1))
        else:  # only what a JSON parser makes gets here
            raise _refuse(path, pointer, "is not a JSON value")
    size = len(orjson.dumps(value))
    if size > max_bytes:
        message = (
            f"Field '{field}' is {size} bytes as JSON; the limit is {max_bytes} bytes "
            "(setting max_json_value_bytes)."
        )
        raise APIError(
            message,
            status_code=413,
            details=[{"detail": message, "source": {"pointer": "/" + field}}],
        )

"""Phone numbers as the world numbers them: parsed and checked with `phonenumbers` (Google's
libphonenumber metadata), stored in E.164.

A number written with its country code (+32 470 12 34 56) is read as it stands; a national
one (0470 12 34 56) only where the contact's locale names a country (fr-BE, nl_BE → BE).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from formcase.kit.errors import BadRequest

# phonenumbers is imported where it is used: it costs 0.05 s, which every `formcase` command
# would pay at start-up otherwise.

EXAMPLE = "+32470123456"
# How the OpenAPI document states the rule: `phone` is no JSON Schema format, so it is
# described in words (a fuzzer is taught it: tests/test_fuzz.py).
JSON_SCHEMA: dict[str, Any] = {
    "format": "phone",
    "description": "a phone number libphonenumber deems valid: with its country code "
    f"({EXAMPLE}), or as dialled in the country of the contact's locale; kept in E.164",
}
_LOCALE_PARTS = re.compile(r"[-_]")


def region_of(*locales: str | None) -> str | None:
    """The country the first locale naming one names (`fr-BE` → `BE`), if phonenumbers knows
    it; a bare language (`fr`) names none."""
    for locale in locales:
        for part in _LOCALE_PARTS.split(locale or "")[1:]:
            if len(part) == 2 and part.upper() in _regions():
                return part.upper()
    return None


def e164(value: str, region: str | None = None) -> str | None:
    """The number in E.164 (+32470123456), or None when it is not a valid phone number
    (national numbers are read as in `region`; without one they need their country code)."""
    import phonenumbers

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@cache
def _regions() -> frozenset[str]:
    import phonenumbers

    return frozenset(phonenumbers.SUPPORTED_REGIONS)


def problem(region: str | None) -> str:
    """Why a number was refused, in words that say what would be accepted."""
    if region:
        return (
            f"must be a valid phone number, with its country code (such as {EXAMPLE}) or as "
            f"dialled in {region}"
        )
    return f"must be a valid phone number with its country code, such as {EXAMPLE}"


def normalise(value: str, field: str, region: str | None = None) -> str:
    """`value` in E.164, or a 400 naming `field`."""
    number = e164(value, region)
    if number is None:
        raise BadRequest(f"Field '{field}': '{value}' {problem(region)}.")
    return number

"""The one IBAN rule, for every place an IBAN enters (templates' `iban` elements on the fill
page and in prefill data, document intelligence): the country's length and BBAN format, as
the IBAN registry gives them (schwifty ships the registry), and the ISO 7064 mod-97 check
digits.

Not the bank code: a bank list is never complete nor current (python-stdnum refused
BE68 5390 0754 7034, the registry's own Belgian example, because its list lacked the bank),
and not the national check digits inside the BBAN, which only some countries have.
"""

from __future__ import annotations

import re

# schwifty is imported where it is used: it costs 0.1 s, which every `formcase` command would
# pay at start-up otherwise.
_SEPARATORS = re.compile(r"[\s.\-]")


def compact(text: str) -> str:
    """Upper case, without the spaces, dots and hyphens people group it with."""
    return _SEPARATORS.sub("", text).upper()


def length(country: str) -> int | None:
    """The length of the country's IBANs; None where the country has none."""
    from schwifty import registry
    from schwifty.exceptions import SchwiftyException

    try:
        return int(registry.get_iban_spec(country.upper()).iban_length)
    except (KeyError, SchwiftyException):
        return None


def problem(text: str) -> str | None:
    """Why `text` is not an IBAN (in words that end a sentence starting with the IBAN), or
    None when it is one."""
    from schwifty import IBAN
    from schwifty.exceptions import (
        InvalidChecksumDigits,
        InvalidCountryCode,
        InvalidLength,
        InvalidStructure,
        SchwiftyException,
    )

    value = compact(text)
    try:
        IBAN(value)
    except InvalidCountryCode:
        return f"does not start with the code of a country that has IBANs ('{value[:2]}')"
    except InvalidLength:
        return f"has {len(value)} characters; an IBAN of {value[:2]} has {length(value[:2])}"
    except InvalidChecksumDigits:
        return "has wrong check digits (the two digits after the country code)"
    except InvalidStructure:
        return f"does not have the form of an IBAN of {value[:2] or 'any country'}"
    except SchwiftyException as exc:
        return f"is not an IBAN ({exc})"
    return None

"""Typed values as documents write them: dates, amounts, currencies, IBANs and VAT ids.

Every parser takes text as it comes off a page (text layer or OCR) in any of the languages
formcase reads (en, fr, nl, de, and tolerably es, it, pt) and returns a normalised value:
dates as `datetime.date` / ISO strings, amounts as `Decimal` (never float), currencies as
ISO 4217 codes, IBANs and VAT ids upper-case without spaces with a checksum verdict.

The `find_*` functions return every value in a text with its character span, so that a caller
who matched a label on a line can tell which value sits next to it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import NamedTuple

from stdnum import exceptions as stdnum_errors
from stdnum.ch import uid as ch_uid
from stdnum.eu import vat as eu_vat
from stdnum.gb import vat as gb_vat
from stdnum.no import mva as no_vat

from formcase.kit import iban

# Languages that write a decimal comma (and group thousands with dots or spaces).
DECIMAL_COMMA = frozenset({"de", "fr", "nl", "es", "it", "pt", "pl", "da", "sv", "fi", "cs"})
# Languages whose numeric dates put the month first when the order is not evident.
MONTH_FIRST = frozenset({"en"})

# Month names and abbreviations, folded (lower case, no accents), per language.
MONTHS: dict[str, int] = {}
_MONTH_NAMES = {
    "en": "january february march april may june july august september october november december",
    "fr": "janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre",
    "de": "januar februar marz april mai juni juli august september oktober november dezember",
    "nl": "januari februari maart april mei juni juli augustus september oktober november december",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre "
    "diciembre",
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre "
    "dicembre",
    "pt": "janeiro fevereiro marco abril maio junho julho agosto setembro outubro novembro "
    "dezembro",
}
for _names in _MONTH_NAMES.values():
    for _number, _name in enumerate(_names.split(), start=1):
        MONTHS[_name] = _number
MONTHS.update(
    {
        "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
        "sept": 9, "oct": 10, "nov": 11, "dec": 12, "maerz": 3, "jaenner": 1, "janner": 1,
        "mrz": 3, "okt": 10, "dez": 12, "janv": 1, "fevr": 2, "fev": 2, "avr": 4, "juil": 7,
        "mrt": 3, "setiembre": 9, "ene": 1, "dic": 12, "ago": 8, "gen": 1, "giu": 6,
        "lug": 7, "ott": 10,
    }
)  # fmt: skip

# ISO 4217 codes an invoice plausibly carries (a code must be known to be read as one).
CURRENCY_CODES = frozenset(
    re.findall(
        r"[A-Z]{3}",
        "EUR USD GBP CHF JPY CNY INR CAD AUD NZD SEK NOK DKK PLN CZK HUF RON BGN HRK ISK TRY "
        "RUB UAH ZAR BRL MXN ARS CLP COP SGD HKD KRW TWD THB MYR IDR PHP VND AED SAR QAR ILS "
        "EGP MAD TND NGN KES XOF XAF",
    )
)
# Symbols and words, folded to upper case; "$" alone is taken as USD.
CURRENCY_SIGNS = {
    "€": "EUR", "EURO": "EUR", "EUROS": "EUR", "$": "USD", "US$": "USD", "USD$": "USD",
    "US DOLLARS": "USD", "DOLLARS": "USD", "C$": "CAD", "CA$": "CAD", "A$": "AUD",
    "AU$": "AUD", "NZ$": "NZD", "HK$": "HKD", "S$": "SGD", "R$": "BRL", "£": "GBP",
    "¥": "JPY", "₹": "INR", "RS": "INR", "RS.": "INR", "₽": "RUB", "₺": "TRY", "₩": "KRW",
    "ZŁ": "PLN", "ZL": "PLN", "KČ": "CZK", "FT": "HUF", "SFR.": "CHF", "FR.": "CHF",
}  # fmt: skip

_DASHES = "-−–—"  # a minus as typed, as typeset and as OCR reads it  # noqa: RUF001


def fold(text: str) -> str:
    """Lower case without accents, one character per character of `text`, so that a match's
    span in the folded text is its span in the original."""
    out = []
    for char in text:
        if char in "’‘`´":  # typographic apostrophes read as the plain one  # noqa: RUF001
            out.append("'")
            continue
        base = unicodedata.normalize("NFD", char)[:1].lower()[:1]
        out.append(base if base else char)
    return "".join(out)


# --- dates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateMatch:
    value: date
    start: int
    end: int
    # a numeric date whose day and month could be swapped (05/06/2018)
    ambiguous: bool = False
    numeric: bool = False


_MONTH_RE = "|".join(sorted((re.escape(m) for m in MONTHS), key=len, reverse=True))
_ISO_DATE = re.compile(r"(?<![\d.,])(\d{4})\s?([-./])\s?(\d{1,2})\s?\2\s?(\d{1,2})(?![\d])")
_NUMERIC_DATE = re.compile(
    r"(?<![\d.,/])(\d{1,2})\s?([./-])\s?(\d{1,2})\s?\2\s?(\d{4}|\d{2})(?![\d]|[.,]\d)"
)
_DAY_MONTH_YEAR = re.compile(
    rf"(?<![\d.])(\d{{1,2}})(?:st|nd|rd|th|er|e|\.)?\s*(?:de\s+|of\s+)?\b({_MONTH_RE})\b\.?,?"
    rf"\s*(?:de\s+)?'?(\d{{4}})(?!\d)"
)
# 05-Mar-2024, 5/Jun/18
_DAY_MONTH_YEAR_DASHED = re.compile(
    rf"(?<![\d.])(\d{{1,2}})([-/.])({_MONTH_RE})\.?\2(\d{{4}}|\d{{2}})(?!\d)"
)
_MONTH_DAY_YEAR = re.compile(
    rf"\b({_MONTH_RE})\b\.?\s*(\d{{1,2}})(?:st|nd|rd|th)?\s*,?\s*(\d{{4}})(?!\d)"
)


def day_first_for(language: str | None) -> bool:
    return (language or "").lower()[:2] not in MONTH_FIRST


def _hint_day_first(hint: str | None) -> bool | None:
    if not hint:
        return None
    folded = fold(hint)
    if re.search(r"mm[/.-]dd|month first|us date", folded):
        return False
    if re.search(r"dd[/.-]mm|day first", folded):
        return True
    return None


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:  # 14 → 2014, 98 → 1998
        year += 2000 if year < 70 else 1900
    return year


def _make_date(year: int, month: int, day: int) -> date | None:
    if not 1900 <= year <= 2199:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _ocr_digits(text: str) -> str:
    """OCR reads 0 as O and 1 as l or I inside numbers: fixed where a letter sits between
    digits or separators (never in words)."""
    return re.sub(
        r"(?<=[\d./,-])[OoIil|](?=[\d./,-])|(?<=\d)[OoIil|](?=\d)|[OoIil|](?=\d[\d./,-])",
        lambda m: "0" if m.group(0) in "Oo" else "1",
        text,
    )


def find_dates(
    text: str, *, language: str | None = None, day_first: bool | None = None
) -> list[DateMatch]:
    """Every date written in `text`, left to right. A numeric date whose order is not evident
    (05/06/2018) is read day first unless `day_first` is False or the language writes the
    month first with slashes or dashes (en); dotted dates are always day first."""
    folded = _ocr_digits(fold(text))
    found: list[DateMatch] = []
    for match in _ISO_DATE.finditer(folded):
        value = _make_date(int(match[1]), int(match[3]), int(match[4]))
        if value:
            found.append(DateMatch(value, match.start(), match.end(), numeric=True))
    for match in _NUMERIC_DATE.finditer(folded):
        first, separator, second, year = int(match[1]), match[2], int(match[3]), match[4]
        if separator == "." or first > 12:
            order_day_first = True
        elif second > 12:
            order_day_first = False
        elif day_first is not None:
            order_day_first = day_first
        else:
            order_day_first = day_first_for(language)
        day, month = (first, second) if order_day_first else (second, first)
        value = _make_date(_year(year), month, day)
        if value:
            ambiguous = first <= 12 and second <= 12 and first != second and separator != "."
            found.append(DateMatch(value, match.start(), match.end(), ambiguous, numeric=True))
    for match in _DAY_MONTH_YEAR.finditer(folded):
        value = _make_date(int(match[3]), MONTHS[match[2]], int(match[1]))
        if value:
            found.append(DateMatch(value, match.start(), match.end()))
    for match in _DAY_MONTH_YEAR_DASHED.finditer(folded):
        value = _make_date(_year(match[4]), MONTHS[match[3]], int(match[1]))
        if value:
            found.append(DateMatch(value, match.start(), match.end()))
    for match in _MONTH_DAY_YEAR.finditer(folded):
        value = _make_date(int(match[3]), MONTHS[match[1]], int(match[2]))
        if value:
            found.append(DateMatch(value, match.start(), match.end()))
    return _without_overlaps(found)


def _without_overlaps(found: list[DateMatch]) -> list[DateMatch]:
    kept: list[DateMatch] = []
    for match in sorted(found, key=lambda m: (m.start, -(m.end - m.start))):
        if kept and match.start < kept[-1].end:
            continue
        kept.append(match)
    return kept


def parse_date(
    text: str,
    *,
    language: str | None = None,
    hint: str | None = None,
    day_first: bool | None = None,
) -> str | None:
    """The first date in `text` as ISO `YYYY-MM-DD`, or None. `hint` may say the order
    ("DD/MM/YYYY", "MM/DD/YYYY", "month first")."""
    if day_first is None:
        day_first = _hint_day_first(hint)
    compact = text.strip()
    if re.fullmatch(r"\d{8}", compact):  # 20180605, as e-invoices write dates (format 102)
        value = _make_date(int(compact[:4]), int(compact[4:6]), int(compact[6:]))
        return value.isoformat() if value else None
    found = find_dates(text, language=language, day_first=day_first)
    return found[0].value.isoformat() if found else None


# --- amounts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AmountMatch:
    value: Decimal
    start: int
    end: int
    currency: str | None
    decimals: int  # digits after the decimal separator as written (0 for 1939)

    @property
    def money_like(self) -> bool:
        """Written as money: with cents or a currency (a quantity or a year usually is not)."""
        return self.decimals == 2 or self.currency is not None


_SIGN_KEYS = sorted(CURRENCY_SIGNS, key=len, reverse=True)
_CURRENCY_RE = "|".join(
    [re.escape(sign) for sign in _SIGN_KEYS if not sign[0].isalpha()]
    + [rf"\b{re.escape(sign)}(?!\w)" for sign in _SIGN_KEYS if sign[0].isalpha()]
    + [rf"\b{code}\b" for code in sorted(CURRENCY_CODES)]
)
_NUMBER_RE = (
    r"[1-9]\d{0,2}(?:[.,'\u2019\u00a0\u202f]\d{3})+(?:[.,]\d{1,4})?(?!\d)"  # 1.234,56 1,234.56
    r"|[1-9]\d{0,2}(?:[ \u00a0\u202f]\d{3})+[.,]\d{1,2}(?!\d)"  # 1 234,56
    r"|\d+(?:[.,]\d{1,4})?(?!\d)"
)
_AMOUNT = re.compile(
    rf"(?P<lead>(?<![\w.,])[{_DASHES}]\s?)?"
    rf"(?:(?P<cur1>{_CURRENCY_RE})\s?)?"
    rf"(?P<lead2>(?<![\w.,])[{_DASHES}]\s?)?"
    rf"(?<![\w.,/])(?<!\w-)(?P<num>{_NUMBER_RE})(?![\w%]|[.,/]\d|\s?%)"
    rf"(?:\s?(?P<cur2>{_CURRENCY_RE}))?"
    rf"(?P<trail>-(?![\w\d]))?",
    re.IGNORECASE,
)


def _interpret(raw: str, language: str | None) -> tuple[Decimal, int] | None:
    """A written number → (value, decimals written), deciding which separator is the decimal
    one: the last of two kinds; one kind repeated groups thousands, unless its last group is
    not three digits (OCR read "1.234,56" as "1.234.56"); a single separator before exactly
    three digits is the language's (comma languages group with dots)."""
    number = re.sub(r"[\s'’\u00a0\u202f]", "", raw)  # noqa: RUF001
    dots, commas = number.count("."), number.count(",")
    decimal_sep: str | None = None
    if dots and commas:
        decimal_sep = "." if number.rfind(".") > number.rfind(",") else ","
    elif dots + commas > 1 and len(re.split(r"[.,]", number)[-1]) != 3:
        decimal_sep = number[-len(re.split(r"[.,]", number)[-1]) - 1]  # OCR's "1.234.56"
    elif dots + commas == 1:
        sep = "." if dots else ","
        integer, fraction = number.split(sep)
        if len(fraction) != 3 or integer.startswith("0"):
            decimal_sep = sep
        else:
            comma_language = (language or "").lower()[:2] in DECIMAL_COMMA
            if language and (
                (sep == "," and comma_language) or (sep == "." and not comma_language)
            ):
                decimal_sep = sep
    if decimal_sep:
        integer, _, fraction = number.rpartition(decimal_sep)
        integer = integer.replace(".", "").replace(",", "")
    else:
        integer, fraction = number.replace(".", "").replace(",", ""), ""
    try:
        value = Decimal(f"{integer or '0'}.{fraction}" if fraction else integer)
    except InvalidOperation:
        return None
    return value, len(fraction)


def find_amounts(text: str, *, language: str | None = None) -> list[AmountMatch]:
    """Every amount in `text`, left to right: `1.234,56 €`, `EUR 215.07`, `$4.11`, `-12,00`,
    `- 8,79`, `215,07-`. Percentages are not amounts. Parentheses do not make an amount
    negative: on invoices they set off an aside ("(35,13 € tax included)") more often than
    they mark a credit."""
    found = []
    for match in _AMOUNT.finditer(text):
        parsed = _interpret(match["num"], language)
        if parsed is None:
            continue
        value, decimals = parsed
        if match["lead"] or match["lead2"] or match["trail"]:
            value = -value
        sign = match["cur1"] or match["cur2"]
        found.append(AmountMatch(value, match.start(), match.end(), _code(sign), decimals))
    return found


def parse_amount(text: str, *, language: str | None = None) -> Decimal | None:
    """The first amount in `text`, or None."""
    found = find_amounts(_ocr_digits(text), language=language)
    return found[0].value if found else None


def format_amount(value: Decimal) -> str:
    """Two places with the sign: Decimal('-8.7900') → '-8.79', Decimal('300') → '300.00'
    (rounded half up, as invoices round)."""
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def format_price(value: Decimal) -> str:
    """A unit price: at least two places, more where the document gives them (3.3333)."""
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        return format(value.normalize(), "f")
    return format_amount(value)


# --- currencies ------------------------------------------------------------------------------

_CURRENCY_SEARCH = re.compile(_CURRENCY_RE, re.IGNORECASE)


def _code(sign: str | None) -> str | None:
    if not sign:
        return None
    upper = sign.upper()
    return upper if upper in CURRENCY_CODES else CURRENCY_SIGNS.get(upper)


def parse_currency(text: str) -> str | None:
    """The ISO 4217 code of the first currency sign, word or code in `text`."""
    found = find_currencies(text)
    return found[0][0] if found else None


def find_currencies(text: str) -> list[tuple[str, int, int]]:
    """(ISO code, start, end) of every currency sign, word or code in `text`. Codes count
    only in upper case ("eur" in a word is not one); "Rs" only before a number."""
    found = []
    for match in _CURRENCY_SEARCH.finditer(text):
        token = match.group(0)
        upper = token.upper()
        if upper in CURRENCY_CODES:
            if token != upper:
                continue
            found.append((upper, match.start(), match.end()))
        elif upper in CURRENCY_SIGNS:
            if upper in ("RS", "RS.", "FR.", "FT", "ZL") and not re.match(
                r"\s?[\d-]", text[match.end() :]
            ):
                continue
            if upper in ("DOLLARS", "EURO", "EUROS", "US DOLLARS") and token.islower():
                continue
            found.append((CURRENCY_SIGNS[upper], match.start(), match.end()))
    return found


# --- IBAN and VAT ----------------------------------------------------------------------------


class Checked(NamedTuple):
    """A normalised identifier, whether its checksum and format hold, and why not."""

    value: str
    valid: bool
    note: str | None


def compact(text: str) -> str:
    return re.sub(r"[\s.\-/:]", "", text).upper()


def normalize_iban(text: str) -> Checked:
    """Upper case, no spaces, checked by the one IBAN rule (kit.iban: the country's length and
    format, the check digits; not the bank code)."""
    value = compact(text)
    reason = iban.problem(value)
    if reason:
        return Checked(value, False, f"IBAN {value} is not valid: it {reason}")
    return Checked(value, True, None)


def _lower_first(message: str) -> str:
    return message[:1].lower() + message[1:] if message else "it fails its checks"


_IBAN_RUN = re.compile(r"(?<![A-Z0-9])([A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){8,40})")


def find_ibans(text: str) -> list[tuple[Checked, int, int]]:
    """IBANs written in `text` (grouped by 4 or not) of a country that has IBANs: each
    normalised, checked, with its span. A run that continues into the next word is cut at
    the country's IBAN length."""
    upper = text.upper()
    found = []
    for match in _IBAN_RUN.finditer(upper):
        run = match.group(1)
        length = iban.length(run[:2])
        if length is None:
            continue
        chars, end = 0, match.start(1)
        for index, char in enumerate(run):
            if char != " ":
                chars += 1
            if chars == length:
                end = match.start(1) + index + 1
                break
        else:
            continue
        found.append((normalize_iban(text[match.start(1) : end]), match.start(1), end))
    return found


_VAT_COUNTRIES = (
    "AT|BE|BG|CY|CZ|DE|DK|EE|EL|GR|ES|FI|FR|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|XI|GB|"
    "CHE|NO"
)
_VAT_RUN = re.compile(
    rf"(?<![A-Z0-9.@/])(?:{_VAT_COUNTRIES})[ .\-]?[0-9A-Z](?:[ .\-]?[0-9A-Z]){{5,16}}"
)


def _vat_module(value: str) -> object:
    if value.startswith("GB"):
        return gb_vat
    if value.startswith("CHE"):
        return ch_uid  # the UID; "MWST"/"TVA"/"IVA" after it only names the tax
    if value.startswith("NO"):
        return no_vat
    return eu_vat


def _vat_error(value: str) -> stdnum_errors.ValidationError | None:
    module = _vat_module(value)
    try:
        module.validate(value)  # type: ignore[attr-defined]
    except stdnum_errors.ValidationError as exc:
        return exc
    return None


def normalize_vat(text: str) -> Checked:
    """Upper case, no spaces or dots, checked by python-stdnum (EU VAT ids with their
    country prefix; GB, CH and NO too)."""
    value = compact(text)
    if value.startswith("CHE"):  # CHE-116.281.710 MWST: the suffix names the tax
        value = re.sub(r"(MWST|TVA|IVA)$", "", value)
    if not re.match(rf"(?:{_VAT_COUNTRIES})", value):
        return Checked(value, False, f"VAT id {value} has no known country prefix")
    error = _vat_error(value)
    if error is None:
        return Checked(value, True, None)
    if isinstance(error, stdnum_errors.InvalidChecksum):
        return Checked(value, False, f"VAT id {value} fails its checksum")
    return Checked(value, False, f"VAT id {value} is not valid: {_lower_first(str(error))}")


def find_vat_numbers(text: str) -> list[tuple[Checked, int, int]]:
    """VAT ids written with their country prefix in `text` (`DE 232 446 240`,
    `NL810433941B01`), each with its span. A run that continues into the next word is cut
    to the longest prefix that is a valid id, else to the longest of the right format."""
    upper = text.upper()
    found = []
    position = 0
    while match := _VAT_RUN.search(upper, position):
        position = match.start() + 1  # runs may overlap: "DE UStId DE 232 446 240"
        run = match.group(0)
        positions = [i for i, char in enumerate(run) if char.isalnum()]
        best: tuple[int, bool] | None = None  # (end index in run, valid)
        for count in range(len(positions), 3, -1):
            end = positions[count - 1] + 1
            absolute = match.start() + end
            if absolute < len(upper) and upper[absolute].isalnum():
                continue  # an id ends where its word does: not "DE751234567" of an IBAN
            error = _vat_error(compact(run[:end]))
            if error is None:
                best = (end, True)
                break
            if best is None and isinstance(error, stdnum_errors.InvalidChecksum):
                best = (end, False)
        if best is None:
            continue
        end = match.start() + best[0]
        found.append((normalize_vat(text[match.start() : end]), match.start(), end))
        position = end
    return found

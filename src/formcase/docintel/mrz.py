"""Machine-readable zones (ICAO Doc 9303): found among OCR'd lines, repaired by what each
position may hold, and every check digit verified. Our own parser: the `mrz` package is GPL.

Formats: TD1 (ID cards, 3 x 30), TD2 (2 x 36), TD3 (passports, 2 x 44), and the visas MRV-A
(2 x 44) and MRV-B (2 x 36), which have no composite check.

Repairs, by field type:
* digits only (dates, check digits): O Q D U -> 0, I L -> 1, Z -> 2, S -> 5, G -> 6, T -> 7,
  B -> 8 (a 7 read with an upright stem is a T); the composite check reads the check digits
  so repaired, not as read;
* letters only (countries, names, sex): 0 -> O, 1 -> I, 2 -> Z, 5 -> S, 6 -> G, 8 -> B;
* letters and digits (document number, personal number): the swaps 0/O, Q/D -> 0, 1/I, 2/Z,
  5/S, 8/B are tried where they give a character the kind of its neighbours (a letter
  among digits, a digit among letters), at most two at a time where a composite check digit
  also covers the field (one otherwise), and a repair is kept only when it is the single
  candidate with the fewest swaps that makes the field's check digit and the composite match;
  not 6/G: they weigh 6 and 16, so no check digit tells them apart and G for 6 in a number
  passes its check as read (nothing is changed without a check digit's say);
* a line one or two characters short or long (OCR drops and adds `<` in runs of them): the
  longest run of `<` is stretched or shrunk to the format's length;
* `<` read as K or C at the end of the names line: a trailing given-name part made only of K
  and C is filler when a double filler precedes it (`ANNA<MARIA<<K<<`: a name has one `<<`)
  or when it is two letters or more (`ANNA<MARIA<KKK<<<`); a lone K after a single `<` stays
  (it may be an initial);
* a zone must look like one: its date and date check digit positions hold digits once
  repaired (at most two that do not), so text of the right length is not taken for a zone.

Two-digit years: a birth date is the latest one not after `today`; an expiry date the one
nearest to `today` (within 50 years either side).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

_VALUES = {**{str(d): d for d in range(10)}, **{chr(65 + i): 10 + i for i in range(26)}, "<": 0}
_WEIGHTS = (7, 3, 1)
TO_DIGIT = str.maketrans("OQDUILZSGTB", "00001125678")
TO_LETTER = str.maketrans("012568", "OIZSGB")
_AMBIGUOUS = {"0": "O", "O": "0", "1": "I", "I": "1", "2": "Z", "Z": "2", "5": "S", "S": "5"}
_AMBIGUOUS |= {"8": "B", "B": "8", "Q": "0", "D": "0"}  # not 6/G: see the docstring
_LOOKALIKES = str.maketrans(
    {"\u00ab": "<<", "\u2039": "<", "\u3008": "<", "(": "<", "[": "<", "{": "<"}
)

FORMATS = {"TD1": (3, 30), "TD2": (2, 36), "TD3": (2, 44), "MRVA": (2, 44), "MRVB": (2, 36)}


def check_digit(text: str) -> str:
    """The ICAO 9303 check digit of `text` (weights 7, 3, 1; A=10 … Z=35, < = 0)."""
    total = sum(_VALUES.get(char, 0) * _WEIGHTS[i % 3] for i, char in enumerate(text))
    return str(total % 10)


@dataclass(frozen=True)
class MRZ:
    format: str  # TD1, TD2, TD3, MRVA, MRVB
    lines: tuple[str, ...]  # as read, fitted to the format's length
    document_type: str  # P, I, ID, V, … (the type code, without filler)
    issuing_country: str
    surname: str
    given_names: str
    document_number: str
    nationality: str
    birth_date: str | None  # ISO
    sex: str  # M, F, X
    expiry_date: str | None  # ISO
    optional_data: str | None
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return all(self.checks.values())

    @property
    def score(self) -> int:
        """The share of check digits that match, 0-100."""
        if not self.checks:
            return 0
        return round(100 * sum(self.checks.values()) / len(self.checks))


def _clean(line: str) -> str:
    # accents off (an OCR engine may read Ñ where the zone has N)
    plain = unicodedata.normalize("NFKD", line.upper().translate(_LOOKALIKES))
    text = "".join(char for char in plain if not unicodedata.combining(char))
    return re.sub(r"\s+", "", text)


def _fit(line: str, length: int) -> str | None:
    """`line` made `length` long by stretching or shrinking its longest run of `<` (OCR
    miscounts fillers), or None when it is too far off."""
    if len(line) == length:
        return line
    if abs(len(line) - length) > 3:
        return None
    runs = list(re.finditer(r"<+", line))
    if not runs:
        return line[:length] if len(line) > length else line + "<" * (length - len(line))
    run = max(runs, key=lambda match: match.end() - match.start())
    size = run.end() - run.start() + length - len(line)
    if size < 1:
        return None
    return line[: run.start()] + "<" * size + line[run.end() :]


def _digits(text: str) -> str:
    return text.translate(TO_DIGIT)


def _letters(text: str) -> str:
    return text.translate(TO_LETTER)


def _checked(value: str, digit: str, also: Callable[[str], bool] | None = None) -> tuple[str, bool]:
    """`value` as read, or repaired by swapping lookalikes so that its check digit matches;
    and whether it matches. One candidate in ten matches a check digit by chance, so a repair
    is kept only when it is the one candidate with the fewest swaps that matches, and only
    swaps that give a character the kind of its neighbours are tried (`_in_keeping`).

    A repair must also satisfy `also` (the composite check digit) where the format has one.
    The composite is no second opinion on which swap is right (the field sits under the same
    weights 7, 3, 1 in it), but it tells a misread check digit from a misread field: a field
    "repaired" to fit a misread check digit fails it. Without one, a single swap only."""
    digit = _digits(digit)
    if check_digit(value) == digit:
        return value, True
    positions = [i for i, char in enumerate(value) if _in_keeping(value, i)]
    for count in (1, 2) if also is not None else (1,):
        found = set()
        for chosen in itertools.combinations(positions, count):
            chars = list(value)
            for i in chosen:
                chars[i] = _AMBIGUOUS[chars[i]]
            candidate = "".join(chars)
            if check_digit(candidate) == digit and (also is None or also(candidate)):
                found.add(candidate)
        if len(found) == 1:
            return found.pop(), True
        if found:  # several repairs fit as well as each other: none is trusted
            break
    return value, False


def _in_keeping(value: str, i: int) -> bool:
    """Whether swapping `value[i]` for its lookalike makes it the kind (digit or letter) of
    its neighbours, fillers aside: the O in 89O2, the I in 3I4. Numbers mix letters and
    digits (L898902C3), so a swap against its neighbours is more likely a wrong repair."""
    swapped = _AMBIGUOUS.get(value[i])
    neighbours = [char for char in value[max(i - 1, 0) : i] + value[i + 1 : i + 2] if char != "<"]
    if swapped is None or not neighbours:
        return False
    return all(char.isdigit() == swapped.isdigit() for char in neighbours)


def _date(text: str, *, birth: bool, today: date) -> str | None:
    if not text.isdigit() or len(text) != 6:
        return None
    year, month, day = int(text[:2]), int(text[2:4]), int(text[4:])
    century = today.year // 100 * 100
    if birth:
        full = century + year
    else:  # the nearest to today; on a tie (50 years each way) the future one
        full = min(
            (century + year + shift for shift in (-100, 0, 100)),
            key=lambda y: (abs(y - today.year), y < today.year),
        )
    try:
        found = date(full, month, day)
        if birth and found > today:  # nobody is born in the future: the century before
            found = date(full - 100, month, day)
    except ValueError:
        return None
    return found.isoformat()


def _names(text: str) -> tuple[str, str]:
    text = _letters(text).rstrip("<")
    surname, _, given = text.partition("<<")
    parts = [part for part in given.split("<") if part]
    # `<` read as K (or C) in the filler after the names: "ANNA<MARIA<<<KK"
    while (
        parts
        and re.fullmatch(r"[KC]+", parts[-1])
        and (len(parts[-1]) > 1 or "<<" + parts[-1] in given)
    ):
        parts.pop()
    return surname.replace("<", " ").strip(), " ".join(parts)


def _sex(char: str) -> str:
    return {"M": "M", "F": "F"}.get(char, "X")


def _text(value: str) -> str:
    return value.replace("<", " ").strip()


def _td1(lines: list[str], today: date) -> MRZ:
    one, two, three = lines
    document_type = _letters(one[0:2])
    country = _letters(one[2:5])
    number, number_digit, optional = one[5:14], one[14], one[15:30]
    long_number = number_digit == "<" and bool(optional.strip("<"))
    if long_number:  # longer than 9 characters: the rest and its check digit, then a filler
        tail = optional.split("<", 1)[0]
        number, number_digit, optional = number + tail[:-1], tail[-1:], optional[len(tail) :]
    number_digit = _digits(number_digit)
    birth, birth_digit = _digits(two[0:6]), _digits(two[6])
    expiry, expiry_digit = _digits(two[8:14]), _digits(two[14])
    rest = birth + birth_digit + expiry + expiry_digit + two[18:29]

    def upper(candidate: str) -> str:
        """Positions 6-30 of the first line with `candidate` as the number, as the composite
        reads them (the filler at 15 stays where a long number put it)."""
        if long_number:
            return candidate[:9] + "<" + candidate[9:] + number_digit + optional
        return candidate + number_digit + optional

    def composite_with(candidate: str) -> bool:
        return check_digit(upper(candidate) + rest) == _digits(two[29])

    number, number_ok = _checked(number, number_digit, composite_with)
    composite = upper(number) + rest
    surname, given = _names(three)
    checks = {
        "document_number": number_ok,
        "birth_date": check_digit(birth) == birth_digit,
        "expiry_date": check_digit(expiry) == expiry_digit,
        "composite": check_digit(composite) == _digits(two[29]),
    }
    return MRZ(
        "TD1",
        tuple(lines),
        document_type.rstrip("<"),
        country.rstrip("<"),
        surname,
        given,
        number.rstrip("<"),
        _letters(two[15:18]).rstrip("<"),
        _date(birth, birth=True, today=today),
        _sex(two[7]),
        _date(expiry, birth=False, today=today),
        _text(optional + "<" + two[18:29]) or None,
        checks,
    )


def _two_lines(kind: str, lines: list[str], today: date) -> MRZ:
    one, two = lines
    width = len(one)
    surname, given = _names(one[5:])
    birth, birth_digit = _digits(two[13:19]), _digits(two[19])
    expiry, expiry_digit = _digits(two[21:27]), _digits(two[27])
    dates = birth + birth_digit + expiry + expiry_digit
    number_digit = _digits(two[9])
    optional, tail, personal_ok = two[28:], "", None
    if kind == "TD3":  # the personal number first: the composite covers it too
        optional, optional_digit = two[28:42], _digits(two[42])
        composite_digit = _digits(two[43])
        if optional_digit != "<" or optional.strip("<"):
            head = two[0:9] + number_digit + dates

            def personal_with(candidate: str) -> bool:
                return check_digit(head + candidate + optional_digit) == composite_digit

            optional, personal_ok = _checked(optional, optional_digit, personal_with)
        tail = optional + optional_digit
    elif kind == "TD2":
        optional = tail = two[28:35]
    composite_with: Callable[[str], bool] | None = None
    if kind in ("TD2", "TD3"):
        composite_digit = _digits(two[-1])

        def composite_with(candidate: str) -> bool:
            return check_digit(candidate + number_digit + dates + tail) == composite_digit

    number, number_ok = _checked(two[0:9], number_digit, composite_with)
    checks = {
        "document_number": number_ok,
        "birth_date": check_digit(birth) == birth_digit,
        "expiry_date": check_digit(expiry) == expiry_digit,
    }
    if personal_ok is not None:
        checks["optional_data"] = personal_ok
    if composite_with is not None:
        checks["composite"] = composite_with(number)
    assert width in (36, 44)
    return MRZ(
        kind,
        tuple(lines),
        _letters(one[0:2]).rstrip("<"),
        _letters(one[2:5]).rstrip("<"),
        surname,
        given,
        number.rstrip("<"),
        _letters(two[10:13]).rstrip("<"),
        _date(birth, birth=True, today=today),
        _sex(two[20]),
        _date(expiry, birth=False, today=today),
        _text(optional) or None,
        checks,
    )


def _candidates(lines: list[str]) -> list[str]:
    """Lines that may belong to a zone: only A-Z, 0-9 and `<` once cleaned, 26-47 long."""
    found = []
    for line in lines:
        text = _clean(line)
        if 26 <= len(text) <= 47 and re.fullmatch(r"[A-Z0-9<]+", text) and "<" in text:
            found.append(text)
        elif 26 <= len(text) <= 47 and re.fullmatch(r"[A-Z0-9<]+", text):
            found.append(text)  # a TD1 names line may have no filler; a number line neither
    return found


def _zone(kind: str, group: list[str], today: date) -> MRZ | None:
    count, width = FORMATS[kind]
    fitted = [_fit(line, width) for line in group]
    if any(line is None for line in fitted) or len(fitted) != count:
        return None
    lines = [line for line in fitted if line is not None]
    first = lines[0][0]
    if kind in ("MRVA", "MRVB") and first != "V":
        return None
    if kind in ("TD2", "TD3") and first == "V":
        return None
    if not _looks_like_a_zone(kind, lines):
        return None
    if kind == "TD1":
        return _td1(lines, today)
    return _two_lines(kind, lines, today)


def _looks_like_a_zone(kind: str, lines: list[str]) -> bool:
    """Whether the dates and their check digits (14 positions every format has) read as
    digits once repaired: at least 10 digits, at most 2 characters that are neither a digit
    nor a filler (an unknown day or month is written `<<`)."""
    numbers = lines[1][0:7] + lines[1][8:15] if kind == "TD1" else lines[1][13:20] + lines[1][21:28]
    numbers = _digits(numbers)
    digits = sum(char.isdigit() for char in numbers)
    others = sum(not char.isdigit() and char != "<" for char in numbers)
    return digits >= 10 and others <= 2


def parse(lines: list[str], *, today: date | None = None) -> MRZ | None:
    """The best machine-readable zone among `lines` (OCR output, top to bottom), or None."""
    today = today or date.today()
    found = _candidates(lines)
    best: MRZ | None = None
    for start in range(len(found)):
        for kind, (count, width) in FORMATS.items():
            group = found[start : start + count]
            if len(group) < count or any(abs(len(line) - width) > 3 for line in group):
                continue
            group = [_letters(group[0][:1]) + group[0][1:], *group[1:]]  # 1D… is ID…
            if kind != "TD1" and group[0][0] not in "PIACV":
                continue
            if kind == "TD1" and group[0][0] not in "IAC":
                continue
            zone = _zone(kind, group, today)
            if zone is not None and (best is None or zone.score > best.score):
                best = zone
    return best

"""The invoice template: an invoice's fields found on its pages, checked against each other.

How (deterministic, and each value says where it came from):

1. Labels. Every line of every page is searched for the labels of `docintel.labels` ("Rechnungs-
   nummer", "N° de facture", "Totaal", "zu zahlen", "USt-IdNr", …, in en/de/fr/nl and some
   es/it). Overlapping labels resolve to the longest.
2. Values by proximity. A label's value is right of it on the same line (up to the next label),
   or below it in its column: the line under "Invoice Date:" in a row of labels, the rows under
   a table's "Endbetrag" header. Each candidate is parsed by type (`docintel.values`) and scored:
   the label's weight, where the value sits, how value-like it is.
3. Cross-checks. Total, net and tax are chosen together: the combination where net + tax =
   total (within 0.01) wins over individually better-scored amounts. The amount due is the
   labelled one, else the total less a prepayment, else the total. IBAN and VAT checksums raise
   or lower confidence: a failed one keeps the value, lowers its confidence and adds a note.
4. Parties. The supplier is what a seller label ("Verkäufer", "Sold by") names, else the
   letterhead, a company (a name ending in a legal form) or the legal footer's first line;
   mentions found in several ways add up. The buyer is what a buyer label ("Bill to",
   "Käufer") names, else the first line of the address block a window envelope shows (under
   the sender's one-line return address, or the lower of two blocks).

An e-invoice's embedded XML (Factur-X, ZUGFeRD, XRechnung) is read by `docintel.facturx`
instead, into the same `InvoiceResult`.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import combinations, product
from typing import Any

from formcase.docintel import labels as lb
from formcase.docintel import values
from formcase.docintel.layout import Box, Document, Source, Word
from formcase.docintel.results import MEDIUM, Confidence, confidence_of

FIELDS = (
    "invoice_number",
    "issue_date",
    "due_date",
    "currency",
    "total_amount",
    "net_amount",
    "tax_amount",
    "amount_due",
    "supplier_name",
    "supplier_vat_number",
    "iban",
    "buyer_name",
    "lines",
)
TOLERANCE = Decimal("0.01")
COLUMN_GAP = 1.6  # a gap between words wider than this many line heights separates columns


LineItem = dict[str, str | None]


@dataclass
class FieldResult:
    key: str
    value: str | list[LineItem] | None = None
    score: float = 0.0  # 0..1
    page: int | None = None
    box: Box | None = None
    notes: list[str] = field(default_factory=list)
    source: Source | None = None

    @property
    def confidence(self) -> Confidence | None:
        return confidence_of(self.score) if self.value is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "confidence": self.confidence,
            "score": round(self.score, 3),
            "page": self.page,
            "box": self.box.as_list() if self.box else None,
            "notes": list(self.notes),
            "source": self.source,
        }


@dataclass
class InvoiceResult:
    fields: dict[str, FieldResult]
    document_type: str  # invoice, credit_note, corrected_invoice, self_billed_invoice, …
    language: str | None
    is_valid: bool  # the key fields were found and no check failed
    source: Source
    notes: list[str] = field(default_factory=list)
    embedded_file: str | None = None  # the e-invoice XML's file name, when read from one
    profile: str | None = None  # its Factur-X / ZUGFeRD profile (guideline id)

    def value(self, key: str) -> str | list[LineItem] | None:
        found = self.fields.get(key)
        return found.value if found else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": [found.to_dict() for found in self.fields.values()],
            "document_type": self.document_type,
            "language": self.language,
            "is_valid": self.is_valid,
            "source": self.source,
            "notes": list(self.notes),
            "embedded_file": self.embedded_file,
            "profile": self.profile,
        }


# --- the page as lines of words --------------------------------------------------------------


@dataclass(eq=False)
class _Line:
    page: int
    index: int  # in the document, top to bottom, page after page
    words: tuple[Word, ...]
    text: str
    folded: str
    starts: tuple[int, ...]  # character offset of each word in `text`
    box: Box
    height: float  # median word height

    def word_range(self, start: int, end: int) -> range:
        """Indexes of the words that overlap characters [start, end)."""
        first = last = None
        for i, offset in enumerate(self.starts):
            word_end = offset + len(self.words[i].text)
            if word_end > start and offset < end:
                first = i if first is None else first
                last = i
        return range(0) if first is None or last is None else range(first, last + 1)

    def box_of(self, start: int, end: int) -> Box:
        indexes = self.word_range(start, end)
        if not indexes:
            return self.box
        box = self.words[indexes[0]].box
        for i in indexes[1:]:
            box = box.union(self.words[i].box)
        return box

    def height_of(self, start: int, end: int) -> float:
        """The median height of the words in characters [start, end) (a line's other
        columns may be set in another size)."""
        heights = [self.words[i].box.height for i in self.word_range(start, end)]
        return statistics.median(heights) if heights else self.height

    def char_at_x(self, x: float) -> int:
        """The offset of the first word starting at or right of x."""
        for i, word in enumerate(self.words):
            if word.box.x1 > x:
                return self.starts[i]
        return len(self.text)

    def wide_gap_before(self, i: int) -> bool:
        """A gap wide enough to separate columns (more than a few spaces) before word i."""
        if i <= 0 or i >= len(self.words):
            return False
        return self.words[i].box.x0 - self.words[i - 1].box.x1 > COLUMN_GAP * self.height

    def word_at(self, offset: int) -> int:
        """The index of the word at or after character `offset`."""
        for i, start in enumerate(self.starts):
            if start + len(self.words[i].text) > offset:
                return i
        return len(self.words)

    def gap_at(self, offset: int) -> bool:
        """Whether a column gap separates the text at `offset` from what precedes it."""
        i = self.word_at(offset)
        return (
            self.starts[i] >= offset and self.wide_gap_before(i) if i < len(self.words) else False
        )

    def segment(self, offset: int) -> tuple[int, int]:
        """The span of the column segment (words without a column gap) around `offset`."""
        i = min(self.word_at(offset), len(self.words) - 1)
        first = i
        while first > 0 and not self.wide_gap_before(first):
            first -= 1
        last = i
        while last + 1 < len(self.words) and not self.wide_gap_before(last + 1):
            last += 1
        return self.starts[first], self.starts[last] + len(self.words[last].text)


_GLUED = re.compile(
    r"([A-Z]?[a-zà-ÿ]{3,}[.:]?)([A-Z0-9#][A-Z0-9/._\-#]+)"  # InvoiceINV/2023/03/0008
    r"|(\S*\d)(du|vom|von|van|del|dated|of)"  # n°562044387du 02 Juillet
)


def _unglued(words: tuple[Word, ...]) -> tuple[Word, ...]:
    """OCR drops the space between a label and an upper-case value ("InvoiceINV/2023/03"):
    such words are split, the box shared in proportion to the characters."""
    out: list[Word] = []
    for word in words:
        match = _GLUED.fullmatch(word.text)
        if not match:
            out.append(word)
            continue
        head, tail = (match[1], match[2]) if match[1] else (match[3], match[4])
        box = word.box
        cut = box.x0 + (box.x1 - box.x0) * len(head) / len(word.text)
        out.append(Word(head, Box(box.x0, box.y0, cut, box.y1), word.confidence))
        out.append(Word(tail, Box(cut, box.y0, box.x1, box.y1), word.confidence))
    return tuple(out)


def _lines(document: Document) -> list[_Line]:
    lines: list[_Line] = []
    for page in document.pages:
        for line in page.lines:
            words = tuple(w for w in line.words if w.text.strip())
            if page.source == "ocr":
                words = _unglued(words)
            if not words:
                continue
            heights = [w.box.height for w in words]
            height = statistics.median(heights)
            # Two spaces where a column gap is, so that "1" and "100,00" in two columns do
            # not read as the amount "1 100,00".
            starts, parts, offset = [], [], 0
            for i, word in enumerate(words):
                if i:
                    wide = word.box.x0 - words[i - 1].box.x1 > COLUMN_GAP * height
                    parts.append("  " if wide else " ")
                    offset += len(parts[-1])
                starts.append(offset)
                parts.append(word.text)
                offset += len(word.text)
            text = "".join(parts)
            lines.append(
                _Line(
                    page.number,
                    len(lines),
                    words,
                    text,
                    values.fold(text),
                    tuple(starts),
                    line.box,
                    height,
                )
            )
    return lines


@dataclass(frozen=True, eq=False)
class _Hit:
    label: lb.Label
    line: _Line
    start: int
    end: int

    @property
    def field(self) -> str:
        return self.label.field

    @property
    def box(self) -> Box:
        return self.line.box_of(self.start, self.end)

    @property
    def text(self) -> str:
        return self.line.text[self.start : self.end]


def _hits(line: _Line) -> list[_Hit]:
    """The labels on a line; of overlapping ones the longest (then the weightiest) wins."""
    found = []
    for label in lb.LABELS:
        for match in label.pattern.finditer(line.folded):
            # a label does not run across a column gap ("Datum  Factuur" is two headers)
            if match.end() > match.start() and "  " not in match.group(0):
                found.append(_Hit(label, line, match.start(), match.end()))
    found.sort(key=lambda h: (-(h.end - h.start), -h.label.weight, h.start))
    kept: list[_Hit] = []
    for hit in found:
        if all(hit.end <= other.start or hit.start >= other.end for other in kept):
            kept.append(hit)
    return sorted(kept, key=lambda h: h.start)


# --- candidates ------------------------------------------------------------------------------


@dataclass
class _Candidate:
    field: str
    value: str
    score: float
    line: _Line
    box: Box
    how: str
    amount: Decimal | None = None
    checked: values.Checked | None = None


class _Page:
    """Everything found on the document's lines, for the field finders to query."""

    def __init__(self, document: Document, language: str | None) -> None:
        self.document = document
        self.language = language
        self.lines = _lines(document)
        self.hits = {line.index: _hits(line) for line in self.lines}
        self.day_first = _day_first(self.lines, language)
        self.by_page: dict[int, list[_Line]] = {}
        for line in self.lines:
            self.by_page.setdefault(line.page, []).append(line)
        self.table_headers = self._table_headers()

    def _table_headers(self) -> set[int]:
        """Lines of line-item table headers ("Pos Beschreibung Menge Preis Betrag"), with the
        amount-free lines that continue them: their labels head columns of line amounts."""
        headers: set[int] = set()
        for line in self.lines:
            columns = {name for name, p in lb.COLUMNS.items() if p.search(line.folded)}
            if len(columns) >= 3 and "amount" in columns | {"unit_price"}:
                headers.add(line.index)
                for follower in self.by_page[line.page]:
                    if line.index < follower.index <= line.index + 2:
                        if values.find_amounts(follower.text):
                            break
                        headers.add(follower.index)
        return headers

    def all_hits(self, *fields: str) -> Iterator[_Hit]:
        for line in self.lines:
            for hit in self.hits[line.index]:
                if hit.field in fields:
                    yield hit

    def right_span(self, hit: _Hit) -> tuple[int, int]:
        """Characters right of a label up to the next label on its line."""
        end = len(hit.line.text)
        for other in self.hits[hit.line.index]:
            if other.start >= hit.end:
                end = other.start
                break
        return hit.end, end

    def alone(self, hit: _Hit) -> bool:
        """The label is all of its column segment but for other labels (a header cell, its
        value elsewhere)."""
        start, end = hit.line.segment(hit.start)
        rest = list(hit.line.text[start:end])
        for other in self.hits[hit.line.index]:
            for i in range(max(other.start, start), min(other.end, end)):
                rest[i - start] = " "
        return not "".join(rest).strip(" :.*#()%/")

    def is_header(self, hit: _Hit) -> bool:
        """The label heads a value: alone in its segment (other labels aside), or followed by
        a colon ("Sold By : …"); not a word inside other text ("Lieferant GmbH")."""
        line = hit.line
        start, end = line.segment(hit.start)
        masked = list(line.text)
        for other in self.hits[line.index]:
            if other is not hit:
                masked[other.start : other.end] = " " * (other.end - other.start)
        after = "".join(masked[hit.end : end]).strip(" /")
        before = "".join(masked[start : hit.start]).strip(" :/")
        return not (after or before) or after.startswith(":")

    def first_of_block(self, line: _Line, x0: float) -> bool:
        """No text of the same size starts at the same left edge on the line right above
        (a sender's line in small type over an address does not count); a salutation
        ("Herrn", "Mr") always starts a block."""
        start, end = next(
            ((s, e) for s, e in _segments(line) if line.box_of(s, e).x0 >= x0 - 0.001), (0, 0)
        )
        if _ATTENTION.match(line.text[start:]):
            return False
        if _SALUTATION.fullmatch(line.text[start:end].strip()):
            return True  # "Herrn" on its own line heads the block
        above = self.line_above(line)
        if above is None or _is_sender_line(above):
            return True
        height = line.height_of(start, end)
        return all(
            abs(above.box_of(s, e).x0 - x0) > 0.01
            or not _similar_type(height, above.height_of(s, e))
            for s, e in _segments(above)
        )

    def below(self, hit: _Hit, depth: int = 2) -> Iterator[tuple[_Line, int, int, int]]:
        """(line, start, end, rows down) of the text in the label's column on the lines under
        it: the column runs from the label's left edge to the next label on its line."""
        box = hit.box
        right = min(1.0, box.x1 + 0.25)
        for other in self.hits[hit.line.index]:
            # (two labels in one word, "Käufer/Leistungsempfänger", share its box)
            if other.start >= hit.end and other.box.x0 >= box.x1:
                right = other.box.x0
                break
        left = box.x0 - 2 * hit.line.height
        for other in reversed(self.hits[hit.line.index]):
            if other.end <= hit.start and other.box.x1 <= box.x0:
                left = max(left, other.box.x1)
                break
        rows = 0
        last_y = box.y1
        for line in self.by_page[hit.line.page]:
            if line.index <= hit.line.index or line.box.y0 < box.y1 - box.height * 0.3:
                continue
            if line.box.y0 - last_y > 3.5 * max(hit.line.height, line.height):
                break
            indexes = [
                i
                for i, word in enumerate(line.words)
                # (by its middle: right-aligned numbers end where the header before ends)
                if (word.box.x0 + word.box.x1) / 2 > left and word.box.x0 < right - 0.002
            ]
            if indexes:
                # the first run of words in the column (up to a column gap)
                first = last = indexes[0]
                while last + 1 < len(line.words) and not line.wide_gap_before(last + 1):
                    if line.words[last + 1].box.x0 >= right - 0.002:
                        break
                    last += 1
                start = line.starts[first]
                end = line.starts[last] + len(line.words[last].text)
                rows += 1
                yield line, start, end, rows
                last_y = line.box.y1
                if rows >= depth:
                    break

    def dates_in(self, text: str) -> list[values.DateMatch]:
        return values.find_dates(text, language=self.language, day_first=self.day_first)

    def line_below(self, line: _Line) -> _Line | None:
        """The line right below on the same page (within about a line's height)."""
        page = self.by_page[line.page]
        position = page.index(line)
        if position + 1 >= len(page):
            return None
        below = page[position + 1]
        return below if below.box.y0 - line.box.y1 < 1.2 * line.height else None

    def line_above(self, line: _Line) -> _Line | None:
        """The line right above on the same page (within about a line's height)."""
        page = self.by_page[line.page]
        position = page.index(line)
        if position == 0:
            return None
        above = page[position - 1]
        return above if line.box.y0 - above.box.y1 < 1.2 * line.height else None


def _day_first(lines: list[_Line], language: str | None) -> bool | None:
    """Whether the document writes numeric dates day first, from the dates that show it
    (20/10/2015 is day first, 03/20/2023 month first); None when none does."""
    votes = 0
    for line in lines:
        for match in re.finditer(r"(?<![\d.])(\d{1,2})[/-](\d{1,2})[/-]\d{2,4}(?!\d)", line.text):
            first, second = int(match[1]), int(match[2])
            if first > 12 >= second:
                votes += 1
            elif second > 12 >= first:
                votes -= 1
    return None if votes == 0 else votes > 0


# --- language and document type --------------------------------------------------------------


def detect_language(text: str) -> str | None:
    """The language whose common invoice words the text uses most (en, de, fr, nl, es, it)."""
    words = re.findall(r"[a-z]+", values.fold(text))
    counts = {
        language: sum(1 for word in words if word in vocabulary)
        for language, vocabulary in lb.LANGUAGE_WORDS.items()
    }
    best = max(counts, key=lambda language: counts[language])
    return best if counts[best] >= 3 else None


def _document_type(lines: list[_Line]) -> str:
    if not lines:
        return "invoice"
    head = " ".join(
        line.folded for line in lines if line.page == lines[0].page and line.box.y0 < 0.45
    )
    for kind, pattern in lb.DOCUMENT_TYPES:
        if pattern.search(head):
            return kind
    return "invoice"


# --- invoice number --------------------------------------------------------------------------

_ID_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9/._\-]*[A-Za-z0-9]|[0-9]")
_ID_FILLER = re.compile(
    r"^(?:[\s:#.=\-–]|n\s?[°º]\.?|no\b\.?|nr\b\.?|num(?:ber|mer|ero)?\b\.?|de\b|du\b)*",  # noqa: RUF001
    re.IGNORECASE,
)
_NOT_IDS = frozenset({"seite", "page", "pagina", "von", "of", "du", "vom"})


def _id_value(text: str) -> tuple[str, int, int] | None:
    """The identifier at the start of `text` (after "#", "n°", ":"), with its span."""
    skip = _ID_FILLER.match(values.fold(text))
    match = _ID_TOKEN.match(text, skip.end() if skip else 0)
    if not match:
        return None
    token = match.group(0)
    dates = values.find_dates(token)
    if (
        not any(c.isdigit() for c in token)
        or token.lower() in _NOT_IDS
        or len(token) > 40
        or (dates and dates[0].start == 0 and dates[0].end == len(token))
    ):
        return None
    return token, match.start(), match.end()


def _length_factor(token: str) -> float:
    return 1.0 if len(token) >= 4 else 0.7


def _invoice_numbers(page: _Page) -> list[_Candidate]:
    found = []
    for hit in page.all_hits("invoice_number"):
        line = hit.line
        start, end = page.right_span(hit)
        value = _id_value(line.text[start:end])
        title = hit.label.title
        if value is not None and not (title and line.gap_at(start + value[1])):
            token, s, e = value
            # a title word ("Invoice") is a label when it heads its line or column only
            placement = 0.6 if title and hit.start > 0 and not line.gap_at(hit.start) else 1.0
            found.append(
                _Candidate(
                    "invoice_number",
                    token,
                    hit.label.weight * placement * _length_factor(token),
                    line,
                    line.box_of(start + s, start + e),
                    f"right of the label '{hit.text}'",
                )
            )
            continue
        if not page.alone(hit):
            continue
        for below, b_start, b_end, _ in page.below(hit, depth=1):
            value = _id_value(below.text[b_start:b_end])
            if value:
                token, s, e = value
                found.append(
                    _Candidate(
                        "invoice_number",
                        token,
                        hit.label.weight * 0.85 * _length_factor(token),
                        below,
                        below.box_of(b_start + s, b_start + e),
                        f"under the label '{hit.text}'",
                    )
                )
    return found


# --- dates -----------------------------------------------------------------------------------


def _dates(page: _Page) -> dict[str, list[_Candidate]]:
    found: dict[str, list[_Candidate]] = {"issue_date": [], "due_date": []}
    claimed: set[tuple[int, int]] = set()  # (line, start) of dates that belong to a label
    for hit in page.all_hits(*lb.DATE_FIELDS):
        line = hit.line
        start, end = page.right_span(hit)
        dates = page.dates_in(line.text[start:end])
        weight = hit.label.weight
        if hit.label.adjacent:
            gap = line.text[start:end][: dates[0].start] if dates else "x"
            if gap.strip(" :,") != "":
                continue
            if any(h.field == "other_date" and h.end <= hit.start for h in page.hits[line.index]):
                continue  # "Abrechnungszeitraum: 09.07.2018 bis 11.07.2018": a period's end
            dates = dates[:1]
            # "Rechnung Nr. 471102 vom 05.06.2018": the date of the numbered document
            if any(
                h.field == "invoice_number" and h.end <= hit.start for h in page.hits[line.index]
            ):
                weight = 0.85
        places: list[tuple[_Line, int, values.DateMatch, float, str]] = []
        for rank, match in enumerate(dates[:2]):
            places.append((line, start, match, 1.0 if rank == 0 else 0.5, "right of"))
        if not dates and not hit.label.adjacent and page.alone(hit):
            for below, b_start, b_end, rows in page.below(hit, depth=2):
                below_dates = page.dates_in(below.text[b_start:b_end])
                if below_dates:
                    places.append((below, b_start, below_dates[0], 1.05 - 0.15 * rows, "under"))
                    break
        for where, offset, match, placement, how in places:
            claimed.add((where.index, offset + match.start))
            if hit.field == "other_date":
                continue
            found[hit.field].append(
                _Candidate(
                    hit.field,
                    match.value.isoformat(),
                    weight * placement * (0.95 if match.ambiguous else 1.0),
                    where,
                    where.box_of(offset + match.start, offset + match.end),
                    f"{how} the label '{hit.text}'",
                )
            )
    # Without a label: the first date of the first page's upper half is usually the issue
    # date (letters put it under the letterhead).
    first_page = page.lines[0].page if page.lines else 0
    for line in page.by_page.get(first_page, []):
        if line.box.y0 > 0.5:
            break
        unclaimed = [m for m in page.dates_in(line.text) if (line.index, m.start) not in claimed]
        if unclaimed:
            match = unclaimed[0]
            found["issue_date"].append(
                _Candidate(
                    "issue_date",
                    match.value.isoformat(),
                    0.35,
                    line,
                    line.box_of(match.start, match.end),
                    "the first date on the first page (no label)",
                )
            )
            break
    return found


# --- amounts ---------------------------------------------------------------------------------


_BASE = re.compile(r"(?<!\w)(?:auf|on|sur|op|of|von|base|basis)\s*(?:[€$£]|eur|usd|gbp)?\s*$")


def _amounts_in(page: _Page, text: str) -> list[values.AmountMatch]:
    """The text's amounts that are not part of a date, a year or a long number, nor the
    base a tax is computed on ("USt 7 % auf 50,00")."""
    dates = page.dates_in(text)
    kept = []
    for amount in values.find_amounts(text, language=page.language):
        if any(d.start < amount.end and amount.start < d.end for d in dates):
            continue
        if _BASE.search(values.fold(text[max(0, amount.start - 12) : amount.start])):
            continue
        if amount.decimals == 0 and amount.currency is None:
            digits = len(str(abs(amount.value)))
            if digits > 7 or (digits == 4 and 1900 <= abs(amount.value) <= 2100):
                continue
        kept.append(amount)
    return kept


def _amount_candidate(
    hit: _Hit, line: _Line, offset: int, amount: values.AmountMatch, placement: float, how: str
) -> _Candidate:
    quality = 1.0 if amount.money_like else 0.75 if amount.decimals == 0 else 0.5
    return _Candidate(
        hit.field,
        values.format_amount(amount.value),
        hit.label.weight * placement * quality,
        line,
        line.box_of(offset + amount.start, offset + amount.end),
        f"{how} the label '{hit.text}'",
        amount=amount.value,
    )


def _amounts(page: _Page) -> dict[str, list[_Candidate]]:
    found: dict[str, list[_Candidate]] = {name: [] for name in lb.AMOUNT_FIELDS}
    for hit in page.all_hits(*lb.AMOUNT_FIELDS):
        line = hit.line
        start, end = page.right_span(hit)
        amounts = _amounts_in(page, line.text[start:end])
        if amounts:
            last = len(amounts) - 1
            for rank, amount in enumerate(amounts):
                placement = 1.0 if rank == 0 else 0.8 if rank == last else 0.6
                found[hit.field].append(
                    _amount_candidate(hit, line, start, amount, placement, "right of")
                )
            continue
        # A header cell of a totals table: the amounts in its column below. The largest is
        # the column's sum row. Line-item tables' headers head line amounts, not totals.
        if line.index in page.table_headers or not page.alone(hit):
            continue
        column = []
        for below, b_start, b_end, rows in page.below(hit, depth=6):
            below_amounts = _amounts_in(page, below.text[b_start:b_end])
            if below_amounts:
                column.append((below, b_start, below_amounts[-1], rows))
        if not column:
            continue
        largest = max(column, key=lambda c: abs(c[2].value))
        for below, b_start, amount, _ in column:
            placement = 0.75 if (below, amount) == (largest[0], largest[2]) else 0.5
            found[hit.field].append(
                _amount_candidate(hit, below, b_start, amount, placement, "under")
            )
    return found


def _best_by_value(candidates: Iterable[_Candidate]) -> list[_Candidate]:
    """One candidate per value, best first; a value found in several places gains a little."""
    groups: dict[str, list[_Candidate]] = {}
    for candidate in candidates:
        groups.setdefault(candidate.value, []).append(candidate)
    best = []
    for group in groups.values():
        top = max(group, key=lambda c: c.score)
        places = {(c.line.index, round(c.box.x0, 3)) for c in group}
        bonus = min(0.15, 0.05 * (len(places) - 1))
        best.append(replace(top, score=min(1.0, top.score + bonus)))
    best.sort(key=lambda c: (-c.score, c.line.index))
    return best


def _tax_sums(taxes: list[_Candidate]) -> list[_Candidate]:
    """Invoices with two tax rates show a tax line each and sometimes no tax total: sums of
    two or three tax lines (of different lines) as candidates, weaker than their parts."""
    lines = [c for c in taxes if c.amount is not None and c.how.startswith("right of")]
    sums = []
    for size in (2, 3):
        for group in combinations(lines, size):
            if len({c.line.index for c in group}) < size:
                continue
            total = sum((c.amount or Decimal(0) for c in group), Decimal(0))
            sums.append(
                replace(
                    group[0],
                    value=values.format_amount(total),
                    amount=total,
                    score=min(c.score for c in group) * 0.7,
                    how="the sum of the tax lines " + ", ".join(f"'{c.value}'" for c in group),
                )
            )
    return sums


def _choose_totals(
    candidates: dict[str, list[_Candidate]],
) -> tuple[dict[str, _Candidate | None], bool | None]:
    """Total, net and tax chosen together; whether net + tax = total (None: not all three).
    The amount due stands in for a total nobody labelled (it is one, without prepayment)."""
    as_total = [replace(c, score=c.score * 0.7) for c in candidates["amount_due"]]
    taxes = _best_by_value(candidates["tax_amount"])[:6]
    options: dict[str, list[_Candidate | None]] = {
        "total_amount": [*_best_by_value(candidates["total_amount"] + as_total)[:6], None],
        "net_amount": [*_best_by_value(candidates["net_amount"])[:6], None],
        "tax_amount": [*taxes, *_tax_sums(taxes), None],
    }
    best: tuple[float, dict[str, _Candidate | None]] | None = None
    for total, net, tax in product(*options.values()):
        chosen = {"total_amount": total, "net_amount": net, "tax_amount": tax}
        score = sum(c.score for c in chosen.values() if c)
        t, n, x = (c.amount if c else None for c in (total, net, tax))
        if t is not None and n is not None and x is not None:
            score += 1.0 if abs(n + x - t) <= TOLERANCE and t != 0 else -0.5
        if t is not None and n is not None and abs(n) > abs(t) + TOLERANCE:
            score -= 0.5
        if t is not None and x is not None and abs(x) >= abs(t) and t != 0:
            score -= 0.5
        if n is not None and x is not None and abs(x) > abs(n) + TOLERANCE:
            score -= 0.3
        boxes = [c.box for c in (total, net, tax) if c]
        if len(set(boxes)) < len(boxes):
            score -= 1.0  # one printed amount is not two of them
        # equal scores: the larger total (a table's sum row over its lines)
        key = score + (float(abs(t)) * 1e-9 if t is not None else 0.0)
        if best is None or key > best[0]:
            best = (key, chosen)
    assert best is not None
    chosen = best[1]
    t, n, x = (chosen[k].amount if chosen[k] else None for k in options)  # type: ignore[union-attr]
    consistent = None
    if t is not None and n is not None and x is not None:
        consistent = abs(n + x - t) <= TOLERANCE
    return chosen, consistent


# --- identifiers: VAT ids, IBANs, currency ---------------------------------------------------


def _party_of(page: _Page, line: _Line, box: Box) -> str | None:
    """'seller' or 'buyer': the party header nearest above a position (of several side by
    side, the one whose column it is in), or left of it on its line."""
    for above in reversed(page.by_page[line.page]):
        if above.index > line.index:
            continue
        if line.box.y0 - above.box.y1 > 0.25:
            break
        headers = [
            hit
            for hit in page.hits[above.index]
            if hit.field in ("seller", "buyer", "shipping") and page.is_header(hit)
        ]
        if above.index == line.index:
            headers = [hit for hit in headers if hit.box.x1 <= box.x0]
        else:
            headers = [hit for hit in headers if hit.box.x0 <= box.x0 + 0.05]
        if headers:
            nearest = max(headers, key=lambda hit: hit.box.x0)
            return "seller" if nearest.field == "seller" else "buyer"
    return None


def _is_buyers(page: _Page, line: _Line, start: int) -> bool:
    """A value the buyer owns: a buyer word just before it ("N° TVA client", "Uw BTW
    nummer") or a buyer header over its part of the page."""
    if lb.BUYER_HINT.search(line.folded[max(0, start - 30) : start]):
        return True
    return _party_of(page, line, line.box_of(start, start + 1)) == "buyer"


def _vat_numbers(page: _Page) -> list[_Candidate]:
    """The supplier's VAT id candidates (a buyer's are left out)."""
    found: list[_Candidate] = []
    for hit in page.all_hits("supplier_vat_number"):
        start, end = page.right_span(hit)
        text = hit.line.text[start:end]
        matches = values.find_vat_numbers(text)
        if not matches and hit.label.weight >= 1.0:
            # an id without a known prefix ("TVA F63530848134") after a strong label
            token = _id_value(text)
            if token and re.match(r"[A-Z]{1,3}\s?\d", token[0]):
                matches = [(values.normalize_vat(token[0]), token[1], token[2])]
        for checked, s, e in matches[:1]:
            if _is_buyers(page, hit.line, start + s):
                continue
            found.append(
                _Candidate(
                    "supplier_vat_number",
                    checked.value,
                    hit.label.weight,
                    hit.line,
                    hit.line.box_of(start + s, start + e),
                    f"right of the label '{hit.text}'",
                    checked=checked,
                )
            )
    for line in page.lines:
        for checked, s, e in values.find_vat_numbers(line.text):
            if _is_buyers(page, line, s):
                continue
            # letterhead and legal footer carry the issuer's id
            edge = line.box.y1 > 0.8 or line.box.y0 < 0.15
            found.append(
                _Candidate(
                    "supplier_vat_number",
                    checked.value,
                    0.65 if edge else 0.55,
                    line,
                    line.box_of(s, e),
                    "a VAT id on the page (no label)",
                    checked=checked,
                )
            )
    return found


def _ibans(page: _Page) -> list[_Candidate]:
    found: list[_Candidate] = []
    for hit in page.all_hits("iban"):
        start, end = page.right_span(hit)
        text = hit.line.text[start:end]
        matches = values.find_ibans(text)
        if not matches:
            # shaped like an IBAN but of a country without IBANs, or a placeholder: kept, and
            # flagged by its check
            token = re.match(r"[\s:.]*([A-Z]{2}\d{2}[A-Z0-9]{6,30})\b", text)
            if token:
                checked = values.normalize_iban(token.group(1))
                matches = [(checked, token.start(1), token.end(1))]
        for checked, s, e in matches[:1]:
            score = 1.0 if hit.text.lower().startswith("iban") else 0.8
            if _is_buyers(page, hit.line, start + s):
                score *= 0.4
            found.append(
                _Candidate(
                    "iban",
                    checked.value,
                    score,
                    hit.line,
                    hit.line.box_of(start + s, start + e),
                    f"right of the label '{hit.text}'",
                    checked=checked,
                )
            )
    for line in page.lines:
        for checked, s, e in values.find_ibans(line.text):
            found.append(
                _Candidate(
                    "iban",
                    checked.value,
                    0.6 * (0.4 if _is_buyers(page, line, s) else 1.0),
                    line,
                    line.box_of(s, e),
                    "an IBAN on the page",
                    checked=checked,
                )
            )
    return found


def _currencies(page: _Page) -> list[_Candidate]:
    found: list[_Candidate] = []
    for hit in page.all_hits("currency"):
        start, end = page.right_span(hit)
        codes = values.find_currencies(hit.line.text[start:end])
        if codes:
            iso, s, e = codes[0]
            found.append(
                _Candidate(
                    "currency",
                    iso,
                    1.0,
                    hit.line,
                    hit.line.box_of(start + s, start + e),
                    f"right of the label '{hit.text}'",
                )
            )
    # else the currency the page writes most often
    places: dict[str, list[tuple[_Line, int, int]]] = {}
    for line in page.lines:
        for iso, s, e in values.find_currencies(line.text):
            places.setdefault(iso, []).append((line, s, e))
    total = sum(len(found) for found in places.values())
    for iso, where in places.items():
        line, s, e = where[0]
        found.append(
            _Candidate(
                "currency",
                iso,
                0.45 + 0.4 * len(where) / total + min(0.1, 0.02 * len(where)),
                line,
                line.box_of(s, e),
                f"the currency written {len(where)} time(s) on the page",
            )
        )
    return found


# --- parties ---------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"\s+[-–—•●|·]\s+|\s*[•●|·]\s*")  # noqa: RUF001
_ADDRESS = re.compile(
    r"(?:^|\s)(?:\d{4,5}|[a-z]-?\d{4,5}|\d{4}\s?[a-z]{2})\s+[a-z]|"
    # street words end German and Dutch compounds ("Musterstraße 42"), not other words
    r"(?:stra(?:ss|ß)e|str\.|weg|gasse|platz|allee|straat|laan|plein|"
    r"\b(?:rue|avenue|chemin|boulevard|bd\.|street|st\.?|road|rd\.|ave\.?))(?:\s+\d|$)|"
    r"\b\d+\s*[a-z]?$|^\d+[a-z]?,?\s"
)
_CONTACT = re.compile(
    r"@|www\.|https?:|\.(?:com|de|fr|nl|be|org|net)\b|\+\d|\b(?:tel|fax|phone|fon)\b"
)
_SALUTATION = re.compile(
    r"^(?:herrn?|frau|firma|mr\.?|mrs\.?|ms\.?|m\.|mme|mlle|monsieur|madame|dhr\.?|mevr\.?|"
    r"t\.?\s?a\.?\s?v\.?|attn:?|z\.\s?hd\.?|c/o)(?:\s+|$)",
    re.IGNORECASE,
)
# "z. Hd. Frau Meier", "t.a.v. de heer Jansen": a contact inside a block, never its start
_ATTENTION = re.compile(
    r"^(?:t\.?\s?a\.?\s?v\.?|attn:?|z\.\s?hd\.?|c/o|(?:a|à)\s+l'attention\s+de)(?:\s+|$)",
    re.IGNORECASE,
)
_DOMAIN = re.compile(r"(?:@|https?://(?:www\.)?|www\.)([a-z0-9-]+)\.[a-z]{2,6}\b")


def _clean_name(text: str) -> str:
    text = re.sub(r"^[\s:;,.\-–*#/]+|[\s:;,\-–*/]+$", "", text)  # noqa: RUF001
    return " ".join(text.split())


def _name_like(text: str) -> bool:
    """Reads like a person's or company's name: mostly letters, a few words, not an address,
    a contact, a label or a title."""
    folded = values.fold(text).strip()
    letters = sum(c.isalpha() for c in text)
    if letters < 2 or letters < 0.6 * len(text.replace(" ", "")):
        return False
    if len(text.split()) > 8 or "_" in text or ":" in text:
        return False  # a "label: value" pair is not a name
    if text.strip().upper() in values.CURRENCY_CODES or text.strip()[:1] in "([{":
        return False
    if _SALUTATION.fullmatch(text.strip()):
        return False  # "Herrn" alone
    if _CONTACT.search(folded) or _ADDRESS.search(folded):
        return False
    if any(label.pattern.fullmatch(folded.strip(" :.")) for label in lb.LABELS):
        return False
    return not lb.TITLE_WORDS.fullmatch(folded.strip(" .:"))


def _segments(line: _Line) -> list[tuple[int, int]]:
    """Character spans of the line's parts: split at column gaps and at " - ", "•", "|"."""
    spans = []
    start = 0
    for i in range(1, len(line.words)):
        if line.wide_gap_before(i):
            spans.append((start, line.starts[i] - 1))
            start = line.starts[i]
    spans.append((start, len(line.text)))
    parts = []
    for s, e in spans:
        offset = s
        for match in _SEPARATORS.finditer(line.text, s, e):
            parts.append((offset, match.start()))
            offset = match.end()
        parts.append((offset, e))
    return [(s, e) for s, e in parts if line.text[s:e].strip()]


def _without_french_form(name: str) -> str:
    """French legal forms are not part of the name ("Free SAS" is the company Free, "Au bon
    moulin SARL" is Au bon moulin); German, Dutch and English ones are (GmbH, B.V., Ltd)."""
    folded = values.fold(name)
    for match in lb.LEGAL_FORM.finditer(folded):
        if match.group(0).replace(" ", "") in lb.FRENCH_FORMS and name[match.start()].isupper():
            return _clean_name(name[: match.start()]) or name
    return name


def _company(text: str) -> str | None:
    """The company named at the start of `text`, up to its legal form ("Bei Spiel GmbH ●
    Ecke 12" → "Bei Spiel GmbH"), or None when no legal form follows a name."""
    folded = values.fold(text)
    for match in lb.LEGAL_FORM.finditer(folded):
        form = text[match.start() : match.end()]
        if form.islower() and len(form) <= 3:
            continue  # "sa", "ag", "as" in lower case are words, not forms
        end = match.end()
        # forms run on: "Papier & Co. KG", "Muster GmbH & Co. KG"
        while more := re.match(r"\s*&?\s*", folded[end:]):
            following = lb.LEGAL_FORM.match(folded, end + more.end())
            if following is None:
                break
            end = following.end()
        name = _strip_title(_clean_name(text[:end]))
        if name and _name_like(name) and lb.LEGAL_FORM.sub("", values.fold(name)).strip(" ,."):
            return _without_french_form(name)
    return None


def _strip_title(text: str) -> str:
    """A letterhead line without the document's title ("FACTUUR. Coolblue B.V.")."""
    folded = values.fold(text)
    match = lb.TITLE_WORDS.match(folded)
    if match:
        text = text[match.end() :]
        folded = folded[match.end() :]
    tail = list(lb.TITLE_WORDS.finditer(folded))
    if tail and not folded[tail[-1].end() :].strip():
        text = text[: tail[-1].start()]
    return _clean_name(text)


def _two_lines(page: _Page, line: _Line, x0: float) -> str | None:
    """The line above, when a name runs over two lines: aligned with it, close, no label."""
    above = page.line_above(line)
    if above is None or ":" in above.text or abs(above.box.x0 - x0) > 0.01:
        return None
    text = _clean_name(above.text)
    if not _name_like(text) or any(c.isdigit() for c in text) or len(text.split()) > 4:
        return None
    if not _SALUTATION.sub("", text):
        return None  # "Herrn" over "Max Mustermann" is not part of the name
    if any(hit.field in ("seller", "buyer", "shipping", "name") for hit in page.hits[above.index]):
        return None
    return text


def _skip(text: str, offset: int) -> int:
    """The offset of the first character after `offset` that is not a label's punctuation."""
    while offset < len(text) and text[offset] in " :.#-–":  # noqa: RUF001
        offset += 1
    return offset


def _names_from_header(page: _Page, hit: _Hit) -> list[tuple[str, _Line, int, int, str]]:
    """What a party header names: the text right of it, or under it the value of a "Name:"
    line (with the line above when the name runs over two), else the first name-like line."""
    line = hit.line
    if not page.is_header(hit):
        return []  # a word of other text ("Lieferant GmbH"), not a header
    s_end = line.segment(hit.start)[1]
    end = min(s_end, page.right_span(hit)[1])
    right = _clean_name(line.text[hit.end : end])
    if (
        not right
        and _skip(line.text, hit.end) < len(line.text)
        and line.text[hit.end :].strip(" ").startswith(":")
    ):
        # "Sold By :      WS Retail": the value in the next column (unless that is a label)
        v_start, v_end = line.segment(_skip(line.text, hit.end))
        if not any(v_start <= other.start < v_end for other in page.hits[line.index]):
            right = _clean_name(line.text[v_start:v_end])
            end = v_end
    if right:
        # "Customer: 2" names a number, not a party: nothing under it is its value
        return [(right, line, hit.end, end, f"right of '{hit.text}'")] if _name_like(right) else []
    rows = list(page.below(hit, depth=6))
    for row, s, e, _ in rows:
        for name_hit in page.hits[row.index]:
            if name_hit.field != "name" or not s <= name_hit.start < e:
                continue
            v_start, v_end = row.segment(_skip(row.text, name_hit.end))
            value = _clean_name(row.text[max(v_start, name_hit.end) : v_end])
            if not value:
                continue
            first = _two_lines(page, row, row.box_of(name_hit.end + 1, v_end).x0)
            name = f"{first}\n{value}" if first else value
            return [(name, row, name_hit.end, v_end, f"the name under '{hit.text}'")]
    for row, s, e, _ in rows:
        text = _SALUTATION.sub("", _clean_name(row.text[s:e]))
        if ":" in text or re.match(r"(?:gln|nr|no)\b", text, re.IGNORECASE):
            continue
        if _name_like(text):
            return [(text, row, s, e, f"under '{hit.text}'")]
    return []


def _party_names(page: _Page) -> tuple[list[_Candidate], list[_Candidate]]:
    """(supplier, buyer) name candidates."""
    supplier: list[_Candidate] = []
    buyer: list[_Candidate] = []
    blocks = _address_blocks(page)
    # with two address blocks or more, the lower ones are the recipients': not the supplier
    recipients = {(block.line.index, block.start) for block in _recipients(blocks)}
    recipients |= {(block.name_line.index, 0) for block in _recipients(blocks)}

    def add(
        bucket: list[_Candidate],
        key: str,
        name: str,
        score: float,
        line: _Line,
        s: int,
        e: int,
        how: str,
    ) -> None:
        name = "\n".join(_clean_name(part) for part in name.split("\n"))
        if name and _name_like(name.split("\n")[-1]):
            bucket.append(_Candidate(key, name, score, line, line.box_of(s, e), how))

    for hit in page.all_hits("seller", "buyer", "payee"):
        key = "buyer_name" if hit.field == "buyer" else "supplier_name"
        weight = hit.label.weight * (0.6 if hit.field == "payee" else 0.9)
        for name, line, s, e, how in _names_from_header(page, hit):
            if key == "supplier_name":
                add(supplier, key, _without_french_form(name), weight, line, s, e, how)
            else:
                add(buyer, key, name, weight, line, s, e, how)

    # The letterhead: name-like text heading a block at the top of the first page; a legal
    # form, the biggest type and an address under it make it likelier.
    first_page = page.lines[0].page if page.lines else 1
    top = [line for line in page.by_page.get(first_page, []) if line.box.y0 < 0.16]
    tallest = max((line.height for line in top), default=0.0)
    order = 0
    for line in top:
        if sum(1 for hit in page.hits[line.index] if hit.field != "name") >= 2:
            continue  # a row of labels
        previous_end = ""
        for s, e in _segments(line):
            part, previous_end = line.text[s:e], line.text[:s].rstrip()[-1:]
            x0 = line.box_of(s, e).x0
            text = _strip_title(part)
            if previous_end == ":" or not text or not _name_like(text):
                continue
            if not page.first_of_block(line, x0) or _is_buyers(page, line, s):
                continue
            company = _company(text)
            score = 0.45 - 0.03 * min(order, 5) + (0.2 if company else 0.0)
            order += 1
            if line.height >= tallest * 0.95 and len({round(x.height, 3) for x in top}) > 1:
                score += 0.1
            if _heads_address(page, line, x0):
                score += 0.1
            name = company or text
            first = _two_lines(page, line, x0) if company else None
            add(
                supplier,
                "supplier_name",
                f"{first}\n{name}" if first else name,
                score,
                line,
                s,
                e,
                "the letterhead",
            )

    # Companies anywhere (legal form), likelier in the legal footer; and the footer's
    # own line above its registration details.
    for line in page.lines:
        registration = lb.REGISTRATION.search(line.folded)
        footer = line.box.y0 > 0.85
        for s, e in _segments(line):
            company = _company(line.text[s:e])
            if not company or _is_buyers(page, line, s):
                continue
            score = 0.45 + (0.15 if footer else 0.0) + (0.1 if registration else 0.0)
            first = _two_lines(page, line, line.box_of(s, e).x0) if line.box.y0 < 0.2 else None
            add(
                supplier,
                "supplier_name",
                f"{first}\n{company}" if first else company,
                score,
                line,
                s,
                e,
                "a company name",
            )
        if registration and footer:
            # the footer block's first line names the issuer ("NETPRESSE" over "Siège
            # social …", "e-Luscious Nederland B.V." over its address and "KvK …")
            head = line
            while (above := page.line_above(head)) is not None and above.box.y0 > 0.8:
                head = above
            text = _clean_name(head.text[slice(*_segments(head)[0])])
            company = _company(text)
            if head is not line and (company or len(text.split()) <= 4):
                add(
                    supplier,
                    "supplier_name",
                    company or text,
                    0.65,
                    head,
                    0,
                    len(head.text),
                    "the legal footer",
                )

    buyer.extend(_address_block_names(page, blocks))
    supplier = [c for c in supplier if (c.line.index, c.line.char_at_x(c.box.x0)) not in recipients]
    return supplier, buyer


_POSTCODE = re.compile(r"(?:^|\s)(?:[a-z]{1,2}-?)?\d{4,5}(?:\s?[a-z]{2})?(?:\s*[^\W\d_]|$)")
_STREET = re.compile(
    r"(?:stra(?:ss|ß)e|str\.|weg|gasse|platz|allee|straat|laan|plein|\b(?:rue|avenue|chemin|"
    r"boulevard|street|st\.?|road|rd\.?|lane|ave\.?|drive))\b|^\d+[a-z]?,?\s+[^\W\d_]{2}"
)


def _similar_type(height: float, other: float) -> bool:
    """Two heights of the same size of type (OCR's boxes vary a little)."""
    return 0.8 < other / height < 1.25 if height else False


def _address_lines(page: _Page, line: _Line, x0: float) -> list[_Line]:
    """The lines of the address block this one heads: lines under it, aligned with it, in
    the same type, down to a postcode and town within five lines (or, without a postcode, a
    street in a block of three lines or more); [] when it heads none."""
    lines = page.by_page[line.page]
    position = lines.index(line)
    start = line.char_at_x(x0)
    height = line.height_of(start, line.segment(start)[1])
    block, street = [line], False
    for below in lines[position + 1 : position + 6]:
        if below.box.y0 - block[-1].box.y1 > 2.2 * height:
            break
        spans = [(a, b) for a, b in _segments(below) if abs(below.box_of(a, b).x0 - x0) < 0.01]
        if not spans:
            continue
        if not _similar_type(height, below.height_of(*spans[0])):
            break  # another size of type: another block
        block.append(below)
        text = values.fold(below.text[spans[0][0] : below.segment(spans[0][0])[1]])
        if any(a.money_like for a in values.find_amounts(below.text[slice(*spans[0])])):
            return []  # rows of a table, not an address
        if _POSTCODE.search(text):
            return block
        street = street or (bool(_STREET.search(text)) and not _CONTACT.search(text))
    return block if street and len(block) >= 3 else []


def _heads_address(page: _Page, line: _Line, x0: float) -> bool:
    return bool(_address_lines(page, line, x0))


@dataclass(frozen=True, eq=False)
class _Block:
    """An address block: its first line's segment, and the name it starts with (on the next
    line when the first is a salutation, "Herrn")."""

    line: _Line
    start: int
    end: int
    name: str
    name_line: _Line
    under_sender_line: bool  # the sender's one-line address in small type just above


def _sender_line_above(page: _Page, line: _Line, x0: float) -> bool:
    """A window envelope's return address over the recipient: one line in smaller type,
    parts separated by "·", "•", "|" or " - ", with a postcode."""
    lines = page.by_page[line.page]
    position = lines.index(line)
    for above in reversed(lines[max(0, position - 2) : position]):
        if line.box.y0 - above.box.y1 > 3 * line.height:
            return False
        if above.box.x1 < x0 or above.box.x0 > x0 + 0.3:
            continue
        smaller = above.height < 0.85 * line.height_of(line.char_at_x(x0), len(line.text))
        return smaller and _is_sender_line(above)
    return False


def _is_sender_line(line: _Line) -> bool:
    """A one-line address: parts separated by "·", "•", "|" or " - ", one a postcode."""
    return bool(_SEPARATORS.search(line.text)) and bool(_POSTCODE.search(values.fold(line.text)))


def _address_blocks(page: _Page) -> list[_Block]:
    """The address blocks (a stack of lines down to a postcode and town) in the upper part
    of page one, top to bottom."""
    found: list[_Block] = []
    inside: list[tuple[list[_Line], float]] = []
    if not page.lines:
        return found
    for line in page.by_page[page.lines[0].page]:
        if line.box.y0 > 0.4:
            break
        if line.index in page.table_headers or _is_sender_line(line):
            continue  # a table's header; a one-line return address (over the block)
        for s, e in _segments(line):
            x0 = line.box_of(s, e).x0
            text, name_line = _SALUTATION.sub("", _clean_name(line.text[s:e])), line
            if not text and _SALUTATION.match(_clean_name(line.text[s:e])):
                below = page.line_below(line)
                if below is not None and abs(below.box.x0 - x0) < 0.01:
                    text, name_line = _clean_name(below.text[slice(*_segments(below)[0])]), below
            if not text or not _name_like(text) or not page.first_of_block(line, x0):
                continue
            if any(line in block and abs(x0 - start_x) < 0.01 for block, start_x in inside):
                continue  # a line of a block found already
            block_lines = _address_lines(page, line, x0)
            if block_lines:
                inside.append((block_lines, x0))
                sender = _sender_line_above(page, line, x0)
                found.append(_Block(line, s, e, text, name_line, sender))
    return found


def _recipients(blocks: list[_Block]) -> list[_Block]:
    """The blocks under a sender line; else, of two or more, all but the first (the
    sender's own address comes first, in the letterhead)."""
    marked = [block for block in blocks if block.under_sender_line]
    return marked or blocks[1:]


def _address_block_names(page: _Page, blocks: list[_Block]) -> list[_Candidate]:
    """The buyer as an envelope's window shows it: of two address blocks or more the lower
    ones (the sender's comes first, in the letterhead); a single block may be either."""
    recipients = _recipients(blocks)
    score = 0.6 if recipients else 0.45
    recipients = recipients or blocks
    return [
        _Candidate(
            "buyer_name",
            block.name,
            score,
            block.name_line,
            block.name_line.box_of(0, len(block.name_line.text))
            if block.name_line is not block.line
            else block.line.box_of(block.start, block.end),
            "the first line of the address block",
        )
        for block in recipients
    ]


def _core(name: str) -> str:
    """A name without legal form, case and punctuation, for telling two mentions apart."""
    return re.sub(r"[^a-z0-9]+", "", lb.LEGAL_FORM.sub("", values.fold(name.split("\n")[0])))


def _pick_name(
    candidates: list[_Candidate], page: _Page, exclude: str | None = None
) -> _Candidate | None:
    """The name with the most evidence: mentions of one company (legal form and case aside)
    found in different ways add up, and so does the page's web or mail domain naming it."""
    domains = {
        m.group(1).replace("-", "") for line in page.lines for m in _DOMAIN.finditer(line.folded)
    }
    groups: dict[str, list[_Candidate]] = {}
    for candidate in candidates:
        key = _core(candidate.value)
        if key and (exclude is None or key != _core(exclude)):
            groups.setdefault(key, []).append(candidate)
    best: _Candidate | None = None
    for key, group in groups.items():
        group.sort(key=lambda c: -c.score)
        ways = {c.how for c in group}
        score = group[0].score + 0.12 * (len(ways) - 1)
        if key in domains:
            score += 0.1  # the page's web or mail domain is the name
        if best is None or score > best.score:
            best = replace(group[0], score=min(1.0, score))
    return best


# --- line items ------------------------------------------------------------------------------


def _line_items(page: _Page) -> tuple[list[LineItem], _Candidate] | None:
    """The rows of the first line-item table: under a header naming at least three of
    description, quantity, unit price and amount, each line with an amount in the number
    columns, until the totals. The description is the text left of the number columns."""
    for index in sorted(page.table_headers):
        header = page.lines[index]
        columns: dict[str, Box] = {}
        for name, pattern in lb.COLUMNS.items():
            match = pattern.search(header.folded)
            if match:
                columns[name] = header.box_of(match.start(), match.end())
        numbers = [box.x0 for name, box in columns.items() if name != "description"]
        if len(columns) < 3 or not numbers:
            continue
        boundary = min(numbers) - 0.01
        items: list[LineItem] = []
        box = header.box
        last_y = header.box.y1
        for row in page.by_page[header.page]:
            if row.index <= index or row.index in page.table_headers:
                continue
            if row.box.y0 - last_y > 8 * row.height:
                break  # the table ended
            if any(
                h.field in ("total_amount", "net_amount", "tax_amount", "amount_due")
                and page.is_header(h)
                for h in page.hits[row.index]
            ):
                break  # the totals
            amounts = [
                a for a in _amounts_in(page, row.text) if row.box_of(a.start, a.end).x1 > boundary
            ]
            words = [w.text for w in row.words if w.box.x1 <= boundary + 0.005]
            description = re.sub(r"^\d{1,3}[.)]?\s+", "", _clean_name(" ".join(words)))
            money = [a for a in amounts if a.money_like]
            # a line's amount is money; "Serial: …" and "Bruttopreis : 4,00" lines are notes
            if not money or ":" in description or not re.search(r"[^\W\d_]{3}", description):
                continue
            item: LineItem = {
                "description": description,
                "quantity": None,
                "unit_price": None,
                "amount": values.format_amount(money[-1].value),
            }
            for amount in amounts:
                if amount is money[-1]:
                    continue
                where = row.box_of(amount.start, amount.end)
                quantity, unit = columns.get("quantity"), columns.get("unit_price")
                if quantity and where.x1 > quantity.x0 - 0.04 and where.x0 < quantity.x1 + 0.04:
                    item["quantity"] = format(amount.value.normalize(), "f")
                elif unit and where.x1 > unit.x0 - 0.04 and where.x0 < unit.x1 + 0.04:
                    item["unit_price"] = values.format_price(amount.value)
            items.append(item)
            box = box.union(row.box)
            last_y = row.box.y1
        if items:
            candidate = _Candidate("lines", "", 0.6, header, box, "the rows under the table header")
            return items, candidate
    return None


# --- the template ----------------------------------------------------------------------------


def extract_invoice(document: Document) -> InvoiceResult:
    """The invoice's fields from its pages (text layer or OCR)."""
    language = document.language or detect_language(document.text)
    page = _Page(document, language)
    source = document.source
    fields: dict[str, FieldResult] = {}

    def put(key: str, candidate: _Candidate | None) -> FieldResult:
        if candidate is None:
            fields[key] = FieldResult(key, source=source)
            return fields[key]
        # OCR's own doubt about the words carries over
        ocr = min((w.confidence for w in candidate.line.words), default=1.0)
        fields[key] = FieldResult(
            key,
            candidate.value,
            round(min(1.0, candidate.score) * (0.5 + 0.5 * ocr), 3),
            candidate.line.page,
            candidate.box,
            [f"Found {candidate.how} (page {candidate.line.page})."],
            source,
        )
        return fields[key]

    numbers = _best_by_value(_invoice_numbers(page))
    put("invoice_number", numbers[0] if numbers else None)

    dates = _dates(page)
    issue = _best_by_value(dates["issue_date"])
    put("issue_date", issue[0] if issue else None)
    due = _best_by_value(c for c in dates["due_date"] if not issue or c.value != issue[0].value)
    # a due date on or after the issue date, if one was found
    due.sort(key=lambda c: not issue or c.value < issue[0].value)
    _check_due(put("due_date", due[0] if due else None), fields["issue_date"])

    currencies = _best_by_value(_currencies(page))
    put("currency", currencies[0] if currencies else None)

    amounts = _amounts(page)
    chosen, _ = _choose_totals(amounts)
    for key, candidate in chosen.items():
        put(key, candidate)
    fields["amount_due"] = _amount_due(fields["total_amount"], amounts, source)
    _total_from_due(fields, amounts)
    cross_check(fields, _consistent(fields))
    if fields["amount_due"].value is None:  # a total computed from net and tax
        fields["amount_due"] = _amount_due(fields["total_amount"], amounts, source)

    vat = _best_by_value(_vat_numbers(page))
    apply_check(
        put("supplier_vat_number", vat[0] if vat else None), vat[0].checked if vat else None
    )
    ibans = _best_by_value(_ibans(page))
    apply_check(put("iban", ibans[0] if ibans else None), ibans[0].checked if ibans else None)

    supplier_names, buyer_names = _party_names(page)
    supplier = _pick_name(supplier_names, page)
    put("supplier_name", supplier)
    put("buyer_name", _pick_name(buyer_names, page, exclude=supplier.value if supplier else None))

    items = _line_items(page)
    put("lines", items[1] if items else None).value = items[0] if items else None

    result = InvoiceResult(
        fields={key: fields[key] for key in FIELDS},
        document_type=_document_type(page.lines),
        language=language,
        is_valid=False,
        source=source,
    )
    if not page.lines:
        result.notes.append("The document has no readable text.")
    return validate(result)


def _check_due(due: FieldResult, issued: FieldResult) -> None:
    if isinstance(due.value, str) and isinstance(issued.value, str) and due.value < issued.value:
        due.score = round(due.score * 0.5, 3)
        due.notes.append(f"The due date {due.value} is before the issue date {issued.value}.")


def apply_check(found: FieldResult, checked: values.Checked | None) -> None:
    """A checksum that holds raises confidence. One that fails keeps the value (sample and
    test invoices carry fake ids: the value is still what the page says) with a lower
    confidence and a note."""
    if checked is None or found.value is None:
        return
    if checked.valid:
        found.score = round(min(1.0, found.score + 0.3), 3)
        found.notes.append("Its checksum holds.")
    else:
        found.score = round(min(found.score * 0.6, MEDIUM - 0.01), 3)
        found.notes.append(f"Check failed: {checked.note}.")


def cross_check(fields: dict[str, FieldResult], consistent: bool | None) -> None:
    """net + tax = total raises all three; a mismatch lowers them, with a note; with two of
    the three the third is computed."""
    total, net, tax = (fields[k] for k in ("total_amount", "net_amount", "tax_amount"))
    if consistent is True:
        for found in (total, net, tax):
            found.score = round(max(found.score, 0.9), 3)
            found.notes.append("net_amount + tax_amount = total_amount.")
        return
    if consistent is False:
        assert isinstance(net.value, str) and isinstance(tax.value, str)
        computed = values.format_amount(Decimal(net.value) + Decimal(tax.value))
        for found in (total, net, tax):
            found.score = round(min(found.score * 0.6, MEDIUM - 0.01), 3)
            found.notes.append(
                f"Check failed: net_amount + tax_amount = {computed}, "
                f"not the total_amount {total.value}."
            )
        return
    if total.value is None and isinstance(net.value, str) and isinstance(tax.value, str):
        _computed(total, net, Decimal(net.value) + Decimal(tax.value), tax, "net + tax")
    elif isinstance(total.value, str) and isinstance(tax.value, str) and net.value is None:
        _computed(net, total, Decimal(total.value) - Decimal(tax.value), tax, "total - tax")
    elif isinstance(total.value, str) and isinstance(net.value, str) and tax.value is None:
        _computed(tax, total, Decimal(total.value) - Decimal(net.value), net, "total - net")


def _consistent(fields: dict[str, FieldResult]) -> bool | None:
    """Whether net + tax = total; None unless all three are there."""
    found = [fields[key].value for key in ("total_amount", "net_amount", "tax_amount")]
    if not all(isinstance(value, str) for value in found):
        return None
    total, net, tax = (Decimal(str(value)) for value in found)
    return abs(net + tax - total) <= TOLERANCE


def _total_from_due(fields: dict[str, FieldResult], amounts: dict[str, list[_Candidate]]) -> None:
    """No total chosen, an amount due labelled and nothing prepaid: the total is due."""
    total, due = fields["total_amount"], fields["amount_due"]
    if total.value is not None or due.value is None or any(c.amount for c in amounts["prepaid"]):
        return
    total.value, total.page, total.box = due.value, due.page, due.box
    total.score = round(due.score * 0.8, 3)
    total.notes.append("The amount due, as no total is labelled and nothing is prepaid.")


def _computed(
    found: FieldResult, total: FieldResult, value: Decimal, other: FieldResult, how: str
) -> None:
    found.value = values.format_amount(value)
    found.score = round(min(total.score, other.score) * 0.6, 3)
    found.page, found.box, found.source = total.page, total.box, total.source
    found.notes.append(f"Computed as {how}: no {found.key} is labelled on the page.")


def _amount_due(
    total: FieldResult, amounts: dict[str, list[_Candidate]], source: Source
) -> FieldResult:
    """The labelled amount due (the one a prepayment explains, if any); else the total less
    a prepayment; else the total."""
    options = _best_by_value(amounts["amount_due"])
    prepaid = [c for c in _best_by_value(amounts["prepaid"]) if c.amount]
    expected = None
    if isinstance(total.value, str):
        paid = abs(prepaid[0].amount) if prepaid and prepaid[0].amount else Decimal(0)
        expected = Decimal(total.value) - paid
    if options:
        best = options[0]
        for option in options:
            if (
                expected is not None
                and option.amount is not None
                and abs(option.amount - expected) <= TOLERANCE
            ):
                best = replace(option, score=max(option.score, 0.9))
                break
        return FieldResult(
            "amount_due",
            best.value,
            round(min(1.0, best.score), 3),
            best.line.page,
            best.box,
            [f"Found {best.how} (page {best.line.page})."],
            source,
        )
    if expected is None:
        return FieldResult("amount_due", source=source)
    due = FieldResult(
        "amount_due",
        values.format_amount(expected),
        round(total.score * 0.9, 3),
        total.page,
        total.box,
        [],
        source,
    )
    if prepaid:
        due.notes.append(f"Computed as total_amount less the prepayment {prepaid[0].value}.")
    else:
        due.notes.append("No amount due is labelled and no prepayment is shown: the total.")
    return due


def validate(result: InvoiceResult) -> InvoiceResult:
    """`is_valid`: invoice number, issue date and total found, and no check failed."""
    required = ("invoice_number", "issue_date", "total_amount")
    missing = [key for key in required if result.value(key) is None]
    failed = [
        found.key
        for found in result.fields.values()
        if any(note.startswith("Check failed") for note in found.notes)
    ]
    result.is_valid = not missing and not failed
    if missing:
        result.notes.append(f"Not found: {', '.join(missing)}.")
    if failed:
        result.notes.append(f"Checks failed: {', '.join(failed)}.")
    return result

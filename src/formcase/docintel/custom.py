"""The caller's own `fields[]`: each value found from the field's name (and hint) by where
it sits on the page — right of its label on the same line, else under it — and parsed by
its type (dates to ISO, numbers to decimal strings), in the document's language."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from formcase.docintel import values
from formcase.docintel.layout import Box, Document, Line, Page, Word
from formcase.docintel.results import confidence_of, results

# A label matches a run of words when their normalised texts are this similar (OCR drops
# and swaps letters; a text layer matches exactly).
LABEL_MATCH = 0.8
EXACT = 0.95
# Characters between a label and its value that are not the value.
_LEADING = re.compile(
    r"^[\s:;=#.\-\u2013\u2014]*(?:(?:no|nr|n°|nº|number)\b[\s:.#]*)?", re.IGNORECASE
)


def normalise(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


@dataclass(frozen=True)
class Label:
    line: Line
    start: int  # index of the label's first word in the line
    end: int  # index after its last word
    similarity: float

    @property
    def box(self) -> Box:
        return Line(self.line.words[self.start : self.end]).box


def find_labels(page: Page, label: str) -> list[Label]:
    """Runs of words on the page that read like `label`, best first."""
    wanted = normalise(label)
    if not wanted:
        return []
    size = len(wanted.split())
    found = []
    for line in page.lines:
        words = line.words
        for start in range(len(words)):
            for length in {max(1, size - 1), size, size + 1}:
                if start + length > len(words):
                    continue
                text = normalise(" ".join(w.text for w in words[start : start + length]))
                similarity = difflib.SequenceMatcher(None, wanted, text).ratio()
                if similarity >= LABEL_MATCH:
                    found.append(Label(line, start, start + length, similarity))
    found.sort(key=lambda label: (-label.similarity, label.box.y0, label.box.x0))
    return found


def _right_of(label: Label) -> list[Word]:
    return list(label.line.words[label.end :])


def _below(page: Page, label: Label) -> list[Word]:
    """The words of the first line under the label that starts within its column."""
    box = label.box
    reach = box.height * 3
    for line in page.lines:
        top = line.box.y0
        if top <= box.y1 - box.height * 0.2 or top > box.y1 + reach:
            continue
        words = [
            w
            for w in line.words
            if w.box.x1 > box.x0 - box.height and w.box.x0 < box.x1 + (box.x1 - box.x0)
        ]
        if words:
            return words
    return []


def _lines_below(page: Page, label: Label, limit: int = 50) -> list[Line]:
    box = label.box
    found: list[Line] = []
    last = box.y1
    for line in page.lines:
        if line.box.y0 <= box.y1 - box.height * 0.2:
            continue
        if line.box.y0 - last > box.height * 2.5 or len(found) >= limit:
            break
        if line.text.rstrip().endswith(":") and found:
            break  # the next label
        found.append(line)
        last = line.box.y1
    return found


def _value_text(words: list[Word]) -> str:
    return _LEADING.sub("", " ".join(w.text for w in words)).strip()


def parse(field_type: str, text: str, hint: str | None, language: str | None) -> Any:
    """The value of `text` as a field of this type, or None when it is not one."""
    if not text:
        return None
    if field_type == "date":
        return values.parse_date(text, language=language, hint=hint)
    if field_type == "number":
        amount = values.parse_amount(text, language=language)
        return None if amount is None else str(amount)
    return text


def find(document: Document, field: dict[str, Any], language: str | None) -> dict[str, Any]:
    """One field's result: its value, how sure, and where it was found."""
    result: dict[str, Any] = {**field, "value": None, "confidence": None, "score": None}
    result.update(page=None, box=None, notes=[])
    field_type = field["type"]
    for page in document.pages:
        for label in find_labels(page, field["name"]):
            if field_type == "list":
                lines = _lines_below(page, label)
                if lines:
                    score = label.similarity * 0.9 * min(line.confidence for line in lines)
                    box = lines[0].box
                    for line in lines[1:]:
                        box = box.union(line.box)
                    return _found(result, [line.text for line in lines], score, page, box)
                continue
            for words, place in ((_right_of(label), 1.0), (_below(page, label), 0.85)):
                value = parse(field_type, _value_text(words), field.get("hint"), language)
                if value is None:
                    continue
                confidence = min((w.confidence for w in words), default=1.0)
                score = (1.0 if label.similarity >= EXACT else label.similarity) * place
                box = Line(tuple(words)).box
                return _found(result, value, score * confidence, page, box)
    result["notes"] = [f"No '{field['name']}' label with a {field_type} value was found."]
    return result


def _found(
    result: dict[str, Any], value: Any, score: float, page: Page, box: Box
) -> dict[str, Any]:
    result.update(
        value=value,
        score=round(score, 3),
        confidence=confidence_of(score),
        page=page.number,
        box=box.as_list(),
    )
    return result


def extract(
    pages: list[Page], fields: list[dict[str, Any]], language: str | None
) -> dict[str, Any]:
    """The job's results for `fields[]`, each from the first page that has it."""
    document = Document(pages, language=language)
    found = [find(document, field, language) for field in fields]
    missing = [field["name"] for field in found if field["value"] is None]
    return results(
        found,
        is_valid=not missing,
        pages=pages,
        notes=[f"Not found: {', '.join(missing)}."] if missing else [],
        document_type=None,
        source=document.source,
    )

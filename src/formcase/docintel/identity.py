"""The identity-document template: a passport's, ID card's or visa's machine-readable zone
(MRZ) found among the OCR'd lines, repaired and checked by docintel.mrz, and returned as
fields whose confidence follows their check digits.

Names carry no check digit: a name is `medium` at best (an OCR slip such as ERIKSSDN for
ERIKSSON passes every check). A value whose check digit fails is kept, `low`, with a note."""

from __future__ import annotations

import difflib
from datetime import date
from typing import TYPE_CHECKING, Any

from formcase.docintel.layout import Box, Document, Page
from formcase.docintel.results import confidence_of, results

if TYPE_CHECKING:
    from formcase.docintel.extract import File, Request
    from formcase.docintel.mrz import MRZ

DOCUMENT_TYPES = {"P": "passport", "I": "id_card", "A": "id_card", "C": "id_card", "V": "visa"}
# key, name, type, the check digit that protects it (None: none does)
FIELDS: tuple[tuple[str, str, str, str | None], ...] = (
    ("document_type", "Document type", "text", None),
    ("issuing_country", "Issuing country", "text", None),
    ("surname", "Surname", "text", None),
    ("given_names", "Given names", "text", None),
    ("document_number", "Document number", "text", "document_number"),
    ("nationality", "Nationality", "text", None),
    ("birth_date", "Date of birth", "date", "birth_date"),
    ("sex", "Sex", "text", None),
    ("expiry_date", "Date of expiry", "date", "expiry_date"),
    ("optional_data", "Optional data (personal number)", "text", "optional_data"),
)


def _box(page: Page, lines: list[str]) -> Box | None:
    """Where the MRZ is on the page: the page lines that read most like its lines."""
    found: Box | None = None
    for wanted in lines:
        best, ratio = None, 0.6
        for line in page.lines:
            text = line.text.replace(" ", "")
            score = difflib.SequenceMatcher(None, wanted, text).ratio()
            if score > ratio:
                best, ratio = line, score
        if best is not None:
            found = best.box if found is None else found.union(best.box)
    return found


def _fields(zone: MRZ, page: Page) -> list[dict[str, Any]]:
    box = _box(page, list(zone.lines))
    whole = all(zone.checks.values())
    results = []
    for key, name, kind, check in FIELDS:
        value = getattr(zone, key, None)
        if key == "document_type" and value:
            value = DOCUMENT_TYPES.get(value[0], value)
        notes = []
        if value in (None, ""):
            value, score = None, None
        elif check is not None and check in zone.checks:
            score = 0.95 if zone.checks[check] else 0.3
            if not zone.checks[check]:
                notes.append(f"The check digit of the {name.lower()} does not match.")
        else:  # no check digit of its own: the composite check vouches for the whole zone
            score = 0.75 if whole else 0.45
        results.append(
            {
                "key": key,
                "name": name,
                "type": kind,
                "hint": None,
                "value": value,
                "confidence": None if score is None else confidence_of(score),
                "score": score,
                "page": page.number if value is not None else None,
                "box": box.as_list() if box is not None and value is not None else None,
                "notes": notes,
            }
        )
    return results


def extract(files: list[File], request: Request) -> dict[str, Any]:
    from formcase.docintel import extract, mrz

    pages = extract.read_pages(files, request)
    document_source = Document(pages).source
    best: tuple[MRZ, Page] | None = None
    for page in pages:
        zone = mrz.parse([line.text for line in page.lines], today=date.today())
        if zone is not None and (best is None or zone.score > best[0].score):
            best = (zone, page)
    if best is None:
        return results(
            [],
            is_valid=False,
            pages=pages,
            notes=["No machine-readable zone (the lines of < at the bottom) was found."],
            document_type=None,
            source=document_source,
            mrz=None,
        )
    zone, page = best
    problems = [
        f"the {name.replace('_', ' ')} check digit does not match"
        for name, ok in zone.checks.items()
        if not ok
    ]
    notes = []
    if problems:
        notes.append("The zone was read, but " + ", ".join(problems) + ".")
    if zone.expiry_date is not None and zone.expiry_date < date.today().isoformat():
        notes.append(f"The document expired on {zone.expiry_date}.")
    return results(
        _fields(zone, page),
        is_valid=zone.valid,
        pages=pages,
        notes=notes,
        document_type=DOCUMENT_TYPES.get(zone.document_type[:1], "identity_document"),
        source=document_source,
        mrz={
            "format": zone.format,
            "lines": list(zone.lines),
            "checks": dict(zone.checks),
            "valid": zone.valid,
            "score": zone.score,
        },
    )

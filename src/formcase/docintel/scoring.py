"""Scoring invoice extraction against the development set's ground truth.

The rules are the dev set's (`tests/data/docintel/README.md`): exact match per field after
normalisation (dates ISO; amounts two places with sign; IBAN and VAT ids upper case without
spaces; names on their first line, case-insensitive, white space collapsed), reported per field
and micro-averaged. Ground truth comes from both invoice folders:

- `invoices-zugferd/gt/*.json`: documents with `usable: true`, fields whose
  `visible_in_text_layer` is true (what the page shows; the XML carries more).
- `invoices-invoice2data/*.json`: invoice2data's expected output, keys mapped to ours. Its
  `partner_name` is not mapped to `buyer_name`: invoice2data fills it with the *issuer's* name
  (the partner of an Odoo vendor bill: "Coolblue B.V." on Coolblue's invoice, "Amazon Web
  Services, Inc." on AWS's), so scoring it as the buyer would reward returning the supplier
  twice. Orlen has no PDF and is skipped.

Run `python -m formcase.docintel.scoring` for the text-layer path, `--scan [--dpi 200]` for
the scan path (pages rendered to 150 dpi JPEGs by default, read by OCR).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from formcase.docintel import invoice, values

# the invoice fields the dev set scores (line items have no ground truth)
FIELDS = tuple(key for key in invoice.FIELDS if key != "lines")
DATE_FIELDS = frozenset({"issue_date", "due_date"})
AMOUNT_FIELDS = frozenset({"total_amount", "net_amount", "tax_amount", "amount_due"})
NAME_FIELDS = frozenset({"supplier_name", "buyer_name"})
COMPACT_FIELDS = frozenset({"iban", "supplier_vat_number"})

INVOICE2DATA_KEYS = {
    "issuer": "supplier_name",
    "invoice_number": "invoice_number",
    "date": "issue_date",
    "date_due": "due_date",
    "amount": "total_amount",
    "amount_untaxed": "net_amount",
    "amount_tax": "tax_amount",
    "currency": "currency",
    "vat": "supplier_vat_number",
    "static_vat": "supplier_vat_number",
    "iban": "iban",
}
SKIPPED_INVOICE2DATA = frozenset({"Orlen"})  # text only, no PDF


def dev_root() -> Path:
    """The development set in the repository: `tests/data/docintel`."""
    return Path(__file__).resolve().parents[3] / "tests" / "data" / "docintel"


def normalise(key: str, value: object) -> str | None:
    """A field's value as the scoring rules compare it; None for no value."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if key in DATE_FIELDS:
        return values.parse_date(text) or text
    if key in AMOUNT_FIELDS:
        try:
            return values.format_amount(Decimal(text))
        except InvalidOperation:
            amount = values.parse_amount(text)
            return values.format_amount(amount) if amount is not None else text
    if key in COMPACT_FIELDS:
        return re.sub(r"\s+", "", text).upper()
    if key in NAME_FIELDS:
        return " ".join(text.splitlines()[0].split()).casefold()
    if key == "currency":
        return text.upper()
    if key == "invoice_number":
        # "#" is the sign for "number", not part of it: "# BLR_1" and "#BLR_1" are one id
        return re.sub(r"\s+", "", text).lstrip("#") or text
    return text


@dataclass(frozen=True)
class GroundTruth:
    name: str
    folder: str  # invoices-zugferd | invoices-invoice2data
    pdf: Path
    fields: dict[str, str]  # the scored fields only, as the source wrote them
    image: Path | None = None  # a PNG of the same invoice, where the folder has one


def load_zugferd(root: Path | None = None) -> list[GroundTruth]:
    folder = (root or dev_root()) / "invoices-zugferd"
    truths = []
    for path in sorted((folder / "gt").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not data.get("usable"):
            continue
        visible = data.get("visible_in_text_layer") or {}
        fields = {
            key: str(data[key]) for key in FIELDS if visible.get(key) and data.get(key) is not None
        }
        truths.append(
            GroundTruth(path.stem, folder.name, folder / "pdf" / f"{path.stem}.pdf", fields)
        )
    return truths


def load_invoice2data(root: Path | None = None) -> list[GroundTruth]:
    folder = (root or dev_root()) / "invoices-invoice2data"
    truths = []
    for path in sorted(folder.glob("*.json")):
        pdf = path.with_suffix(".pdf")
        if path.stem in SKIPPED_INVOICE2DATA or not pdf.exists():
            continue
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
        record = data[0] if isinstance(data, list) else data
        fields = {}
        for source, key in INVOICE2DATA_KEYS.items():
            if record.get(source) not in (None, ""):
                fields[key] = str(record[source])
        image = path.with_suffix(".png")
        truths.append(
            GroundTruth(path.stem, folder.name, pdf, fields, image if image.exists() else None)
        )
    return truths


def load_dev_set(root: Path | None = None) -> list[GroundTruth]:
    return load_zugferd(root) + load_invoice2data(root)


@dataclass
class Tally:
    correct: int = 0
    total: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass(frozen=True)
class Miss:
    document: str
    field: str
    expected: str | None
    got: str | None


@dataclass
class Score:
    per_field: dict[str, Tally] = field(default_factory=dict)
    misses: list[Miss] = field(default_factory=list)

    @property
    def correct(self) -> int:
        return sum(tally.correct for tally in self.per_field.values())

    @property
    def total(self) -> int:
        return sum(tally.total for tally in self.per_field.values())

    @property
    def micro(self) -> float:
        """Correct fields over scored fields, all documents and fields pooled."""
        return self.correct / self.total if self.total else 0.0

    def add(self, truth: GroundTruth, predicted: Mapping[str, object]) -> None:
        for key, expected_raw in truth.fields.items():
            expected = normalise(key, expected_raw)
            got = normalise(key, predicted.get(key))
            tally = self.per_field.setdefault(key, Tally())
            tally.total += 1
            if got == expected:
                tally.correct += 1
            else:
                self.misses.append(Miss(truth.name, key, expected, got))

    def report(self, misses: bool = True) -> str:
        lines = [f"{'field':22} {'correct':>8} {'total':>6} {'accuracy':>9}"]
        for key in FIELDS:
            tally = self.per_field.get(key)
            if tally:
                lines.append(f"{key:22} {tally.correct:>8} {tally.total:>6} {tally.accuracy:>9.1%}")
        lines.append(f"{'micro-average':22} {self.correct:>8} {self.total:>6} {self.micro:>9.1%}")
        if misses:
            lines.append("")
            lines.extend(
                f"miss {m.document} {m.field}: expected {m.expected!r}, got {m.got!r}"
                for m in self.misses
            )
        return "\n".join(lines)


def score(
    truths: Iterable[GroundTruth], predict: Callable[[GroundTruth], Mapping[str, object]]
) -> Score:
    """Each document's predicted field values (`predict`) against its ground truth."""
    result = Score()
    for truth in truths:
        result.add(truth, predict(truth))
    return result


def field_values(result: Any) -> dict[str, object]:
    """An `InvoiceResult`'s values by field key (what `Score.add` compares)."""
    return {key: found.value for key, found in result.fields.items()}


def _scan(pdf: Path, dpi: int = 150) -> list[bytes]:
    """The PDF's pages as JPEGs: the scan path has no text layer."""
    import pypdfium2 as pdfium  # type: ignore[import-untyped]

    document = pdfium.PdfDocument(str(pdf))
    pages = []
    for index in range(len(document)):
        image = document[index].render(scale=dpi / 72).to_pil().convert("RGB")
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        pages.append(buffer.getvalue())
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scan", action="store_true", help="OCR of JPEG renderings")
    parser.add_argument("--dpi", type=int, default=150, help="the scan path's resolution")
    parser.add_argument("--root", type=Path, default=None, help="the dev set (tests/data/docintel)")
    parser.add_argument("--quiet", action="store_true", help="no list of misses")
    args = parser.parse_args(argv)

    from formcase.docintel import invoice, layout, text

    def predict(truth: GroundTruth) -> dict[str, object]:
        if args.scan:
            pages: list[layout.Page] = []
            for number, jpeg in enumerate(_scan(truth.pdf, args.dpi), start=1):
                for page in text.read(jpeg, "image/jpeg").pages:
                    page.number = number
                    pages.append(page)
            document = layout.Document(pages)
        else:
            document = text.read(truth.pdf.read_bytes(), "application/pdf", ocr=False)
        return field_values(invoice.extract_invoice(document))

    result = score(load_dev_set(args.root), predict)
    path = f"scan (OCR of {args.dpi} dpi JPEGs)" if args.scan else "text layer"
    print(f"{path}: {result.micro:.1%}")
    print(result.report(misses=not args.quiet))
    return 0


if __name__ == "__main__":
    sys.exit(main())

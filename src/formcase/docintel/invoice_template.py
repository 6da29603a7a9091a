"""The invoice template as a job runs it: an e-invoice's embedded XML when a PDF carries one
(what the issuer's software wrote: read, not guessed), else the invoice read from its pages;
then the job's `results` in the API's shape."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from formcase.docintel.custom import BLURRY_BELOW
from formcase.docintel.layout import Document, Page

if TYPE_CHECKING:
    from formcase.docintel.extract import File, Request
    from formcase.docintel.invoice import InvoiceResult

# key -> (name, type) as the job's fields show them
FIELDS = {
    "invoice_number": ("Invoice number", "text"),
    "issue_date": ("Issue date", "date"),
    "due_date": ("Due date", "date"),
    "currency": ("Currency", "text"),
    "total_amount": ("Total amount", "number"),
    "net_amount": ("Net amount", "number"),
    "tax_amount": ("Tax amount", "number"),
    "amount_due": ("Amount due", "number"),
    "supplier_name": ("Supplier name", "text"),
    "supplier_vat_number": ("Supplier VAT number", "text"),
    "iban": ("IBAN", "text"),
    "buyer_name": ("Buyer name", "text"),
    "lines": ("Line items", "list"),
}


def extract(files: list[File], request: Request) -> dict[str, Any]:
    from formcase.docintel import facturx, invoice, text

    result: InvoiceResult | None = None
    for file in files:
        if file.media_type == "application/pdf":
            result = facturx.read(file.content)
            if result is not None:
                break
    pages: list[Page] = []
    if result is None:
        for file in files:
            read = text.read(file.content, file.media_type, max_pages=request.max_pages)
            for page in read.pages:
                page.number = len(pages) + 1  # one numbering across the attachments
                pages.append(page)
        result = invoice.extract_invoice(Document(pages, language=request.language))
    sharpness = [page.sharpness for page in pages if page.sharpness is not None]
    blurry = bool(sharpness) and min(sharpness) < BLURRY_BELOW
    fields: list[dict[str, Any]] = []
    for key, (name, kind) in FIELDS.items():
        found = result.fields.get(key)
        shown = found.to_dict() if found is not None else {"key": key, "value": None}
        shown.pop("source", None)
        fields.append(
            {
                "key": key,
                "name": name,
                "type": kind,
                "hint": None,
                "value": shown.get("value"),
                "confidence": shown.get("confidence"),
                "score": shown.get("score"),
                "page": shown.get("page"),
                "box": shown.get("box"),
                "notes": shown.get("notes", []),
            }
        )
    notes = list(result.notes)
    if blurry:
        notes.append("The image is blurry: a sharper photo would read better.")
    return {
        "fields": fields,
        "validation": {
            "is_valid": result.is_valid,
            "is_blurry": blurry,
            "user_explanation": " ".join(notes) or None,
        },
        "document_type": result.document_type,
        "source": result.source,
        "language": result.language,
        "embedded_file": result.embedded_file,
        "profile": result.profile,
    }

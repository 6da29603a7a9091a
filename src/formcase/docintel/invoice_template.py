"""The invoice template as a job runs it: an e-invoice's embedded XML when a PDF carries one
(what the issuer's software wrote: read, not guessed), else the invoice read from its pages;
then the job's `results` in the API's shape."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from formcase.docintel.layout import Document, Page
from formcase.docintel.results import results

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
    from formcase.docintel import extract, facturx, invoice

    result: InvoiceResult | None = None
    for file in files:
        if file.media_type == "application/pdf":
            result = facturx.read(file.content)
            if result is not None:
                break
    pages: list[Page] = []
    if result is None:
        pages = extract.read_pages(files, request)
        result = invoice.extract_invoice(Document(pages, language=request.language))
    fields = []
    for key, (name, kind) in FIELDS.items():
        found = result.fields.get(key) or invoice.FieldResult(key)
        shown = {"key": key, "name": name, "type": kind, "hint": None, **found.to_dict()}
        del shown["source"]
        fields.append(shown)
    return results(
        fields,
        is_valid=result.is_valid,
        pages=pages,
        notes=list(result.notes),
        document_type=result.document_type,
        source=result.source,
        language=result.language,
        embedded_file=result.embedded_file,
        profile=result.profile,
    )

"""E-invoices: the structured invoice a PDF carries as an attached XML file.

Factur-X, ZUGFeRD (1 and 2) and XRechnung in its CII syntax embed a UN/CEFACT Cross Industry
Invoice (`CrossIndustryInvoice`, ZUGFeRD 1's `CrossIndustryDocument`; an XRechnung in UBL
syntax is read too) in the PDF, listed in
the document's EmbeddedFiles name tree and, for PDF/A-3, in the catalog's /AF array. That XML
is what the issuer's invoicing software wrote, so when it is there the fields are read from it
(source "embedded_xml", confidence high) instead of from the page. It is parsed with defusedxml
(no entities, no external references) and elements are matched by local name, so ZUGFeRD 1's
and 2's namespaces read alike.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element, ParseError

import pikepdf
from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]

from formcase.docintel import values
from formcase.docintel.invoice import (
    FIELDS,
    TOLERANCE,
    FieldResult,
    InvoiceResult,
    LineItem,
    apply_check,
    cross_check,
    validate,
)

# The names the standards give the attachment (Factur-X, ZUGFeRD 2, ZUGFeRD 1, XRechnung).
KNOWN_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml", "order-x.xml")
ROOTS = frozenset({"CrossIndustryInvoice", "CrossIndustryDocument"})
MAX_XML_BYTES = 20_000_000  # an invoice's XML is kilobytes; more is not one

# UNTDID 1001 document type codes → our document types.
DOCUMENT_TYPES = {
    "380": "invoice",
    "381": "credit_note",
    "383": "debit_note",
    "384": "corrected_invoice",
    "386": "prepayment_invoice",
    "389": "self_billed_invoice",
    "261": "self_billed_credit_note",
    "326": "partial_invoice",
    "875": "partial_invoice",
    "876": "partial_invoice",
    "877": "invoice",
    "751": "invoice",
    "575": "invoice",  # an insurer's invoice
}


class FacturXError(Exception):
    """The XML is not a Cross Industry Invoice this module can read."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def embedded_files(pdf_bytes: bytes) -> Iterator[tuple[str, bytes]]:
    """(name, content) of the XML files a PDF carries: its EmbeddedFiles name tree and the
    catalog's /AF array (PDF/A-3 associated files). A PDF pikepdf cannot open has none."""
    try:
        pdf = pikepdf.open(io.BytesIO(pdf_bytes))
    except (pikepdf.PdfError, pikepdf.PasswordError, ValueError):
        return
    with pdf:
        seen: set[str] = set()
        specs: list[tuple[str, pikepdf.Object]] = []
        try:
            for name, attached in pdf.attachments.items():
                specs.append((attached.filename or name, attached.obj))
            for spec in pdf.Root.get("/AF", pikepdf.Array()):
                name = str(spec.get("/UF", spec.get("/F", "")))
                specs.append((name, spec))
        except (pikepdf.PdfError, AttributeError, TypeError, ValueError):
            pass
        for name, spec in specs:
            if not name.lower().endswith(".xml") or name in seen:
                continue
            try:
                files = spec.get("/EF")
                stream = files.get("/F") or files.get("/UF") if files is not None else None
                if not isinstance(stream, pikepdf.Stream):
                    continue
                params = stream.get("/Params")
                size = params.get("/Size") if params is not None else None
                if size is not None and int(size) > MAX_XML_BYTES:
                    continue  # not decompressed: an invoice's XML is kilobytes
                content = stream.read_bytes()
            except (pikepdf.PdfError, AttributeError, TypeError, ValueError):
                continue
            if len(content) <= MAX_XML_BYTES:
                seen.add(name)
                yield name, content


def find_embedded_xml(pdf_bytes: bytes) -> tuple[str, Element] | None:
    """The PDF's e-invoice XML as (file name, root element): a file of a standard name
    first, else any XML file whose root is a Cross Industry Invoice (or a UBL invoice)."""
    files = sorted(
        embedded_files(pdf_bytes),
        key=lambda item: (item[0].lower() not in KNOWN_NAMES, item[0].lower()),
    )
    for name, content in files:
        try:
            root = _parse(content)
        except FacturXError:
            continue
        return name, root
    return None


def _is_cii(root: Element) -> bool:
    """A Cross Industry Invoice root; also ZUGFeRD 1's release candidate, an `Invoice` in the
    UN/CEFACT CBFBUY namespace (a UBL `Invoice` is not one)."""
    name = _local(root.tag)
    return name in ROOTS or (name == "Invoice" and "uncefact" in root.tag)


def _is_ubl(root: Element) -> bool:
    """An OASIS UBL Invoice or CreditNote (XRechnung's other syntax, Peppol BIS)."""
    return _local(root.tag) in ("Invoice", "CreditNote") and "oasis" in root.tag


def _parse(xml: bytes) -> Element:
    try:
        root: Element = fromstring(xml)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise FacturXError(f"the XML does not parse: {exc}") from None
    if not (_is_cii(root) or _is_ubl(root)):
        raise FacturXError(f"the XML is a {_local(root.tag)}, not a Cross Industry Invoice")
    return root


# --- reading the CII ----------------------------------------------------------------------


def _child(element: Element | None, *names: str) -> Element | None:
    """The first direct child with one of these local names."""
    if element is None:
        return None
    for child in element:
        if _local(child.tag) in names:
            return child
    return None


def _first(element: Element | None, name: str) -> Element | None:
    """The first descendant with this local name (header elements are unique by name)."""
    if element is None:
        return None
    for child in element.iter():
        if _local(child.tag) == name:
            return child
    return None


def _text(element: Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    text = element.text.strip()
    return text or None


def _date(element: Element | None) -> str | None:
    """A CII date: `udt:DateTimeString format="102"` (YYYYMMDD), or an ISO one."""
    if element is None:
        return None
    # ZUGFeRD 1's release candidate writes the date in the element itself
    text = (
        _text(_first(element, "DateTimeString"))
        or _text(_first(element, "DateString"))
        or _text(element)
    )
    if not text:
        return None
    return values.parse_date(text)


def _amount(element: Element | None) -> str | None:
    text = _text(element)
    if text is None:
        return None
    try:
        return values.format_amount(Decimal(text))
    except InvalidOperation:
        return None


def _amount_in(parent: Element | None, name: str, currency: str | None) -> str | None:
    """An amount element of the summation; of several (TaxTotalAmount in two currencies) the
    one in the invoice currency."""
    if parent is None:
        return None
    found = [child for child in parent if _local(child.tag) == name]
    for element in found:
        if currency is None or element.get("currencyID") in (None, currency):
            return _amount(element)
    return _amount(found[0]) if found else None


def _vat_id(party: Element | None) -> str | None:
    if party is None:
        return None
    for registration in party:
        if _local(registration.tag) != "SpecifiedTaxRegistration":
            continue
        identifier = _child(registration, "ID")
        if identifier is not None and identifier.get("schemeID") == "VA":
            return _text(identifier)
    return None


def _quantity(text: str | None) -> str | None:
    try:
        return format(Decimal(text).normalize(), "f") if text else None
    except InvalidOperation:
        return None


def _line_items(transaction: Element | None) -> list[LineItem]:
    items: list[LineItem] = []
    if transaction is None:
        return items
    for line in transaction:
        if _local(line.tag) != "IncludedSupplyChainTradeLineItem":
            continue
        product = _child(line, "SpecifiedTradeProduct")
        quantity = _text(_first(line, "BilledQuantity"))
        price = _first(_first(line, "NetPriceProductTradePrice"), "ChargeAmount")
        total = _first(
            _first(line, "SpecifiedTradeSettlementLineMonetarySummation"), "LineTotalAmount"
        )
        if total is None:  # ZUGFeRD 1
            settlement = _child(line, "SpecifiedSupplyChainTradeSettlement")
            total = _first(settlement, "LineTotalAmount")
        items.append(
            {
                "description": _text(_child(product, "Name")),
                "quantity": _quantity(quantity),
                "unit_price": values.format_price(Decimal(p)) if (p := _text(price)) else None,
                "amount": _amount(total),
            }
        )
    return items


def parse_cii(xml: bytes | Element, file_name: str | None = None) -> InvoiceResult:
    """An `InvoiceResult` from a Cross Industry Invoice (Factur-X, ZUGFeRD 1/2, XRechnung
    CII). Raises `FacturXError` for XML that is not one."""
    root = xml if isinstance(xml, Element) else _parse(xml)
    if not _is_cii(root):
        raise FacturXError(f"the XML is a {_local(root.tag)}, not a Cross Industry Invoice")
    document = _child(root, "ExchangedDocument", "HeaderExchangedDocument")
    context = _child(root, "ExchangedDocumentContext", "SpecifiedExchangedDocumentContext")
    transaction = _child(
        root, "SupplyChainTradeTransaction", "SpecifiedSupplyChainTradeTransaction"
    )
    if document is None or transaction is None:
        raise FacturXError("the XML has no document header or no trade transaction")
    agreement = _child(
        transaction, "ApplicableHeaderTradeAgreement", "ApplicableSupplyChainTradeAgreement"
    )
    settlement = _child(
        transaction, "ApplicableHeaderTradeSettlement", "ApplicableSupplyChainTradeSettlement"
    )
    seller = _child(agreement, "SellerTradeParty")
    buyer = _child(agreement, "BuyerTradeParty")
    currency = _text(_child(settlement, "InvoiceCurrencyCode"))
    summation = _child(
        settlement,
        "SpecifiedTradeSettlementHeaderMonetarySummation",
        "SpecifiedTradeSettlementMonetarySummation",
    )
    found: dict[str, str | list[LineItem] | None] = {
        "invoice_number": _text(_child(document, "ID")),
        "issue_date": _date(_child(document, "IssueDateTime")),
        "due_date": _date(
            _first(_child(settlement, "SpecifiedTradePaymentTerms"), "DueDateDateTime")
        ),
        "currency": currency,
        "total_amount": _amount_in(summation, "GrandTotalAmount", currency),
        "net_amount": _amount_in(summation, "TaxBasisTotalAmount", currency),
        "tax_amount": _amount_in(summation, "TaxTotalAmount", currency),
        "amount_due": _amount_in(summation, "DuePayableAmount", currency),
        "supplier_name": _text(_child(seller, "Name")),
        "supplier_vat_number": _vat_id(seller),
        "iban": _text(_first(settlement, "IBANID")),
        "buyer_name": _text(_child(buyer, "Name")),
        "lines": _line_items(transaction) or None,
    }
    type_code = _text(_child(document, "TypeCode")) or "380"
    profile = _text(_first(context, "ID")) if context is not None else None
    return _result(found, type_code, profile, file_name)


def _result(
    found: dict[str, str | list[LineItem] | None],
    type_code: str,
    profile: str | None,
    file_name: str | None,
) -> InvoiceResult:
    where = f"the embedded {file_name}" if file_name else "the e-invoice XML"
    fields: dict[str, FieldResult] = {}
    for key in FIELDS:
        value = found.get(key)
        fields[key] = FieldResult(
            key,
            value,
            1.0 if value is not None else 0.0,
            notes=[f"Read from {where}."] if value is not None else [],
            source="embedded_xml",
        )
    _checks(fields)
    result = InvoiceResult(
        fields=fields,
        document_type=DOCUMENT_TYPES.get(type_code, "invoice"),
        language=None,
        is_valid=False,
        source="embedded_xml",
        notes=[f"Read from {where}, which the issuer's invoicing software wrote."],
        embedded_file=file_name,
        profile=profile,
    )
    return validate(result)


def parse_ubl(xml: bytes | Element, file_name: str | None = None) -> InvoiceResult:
    """An `InvoiceResult` from an OASIS UBL 2 Invoice or CreditNote (XRechnung UBL, Peppol
    BIS Billing). Raises `FacturXError` for XML that is not one."""
    root = xml if isinstance(xml, Element) else _parse(xml)
    if not _is_ubl(root):
        raise FacturXError(f"the XML is a {_local(root.tag)}, not a UBL invoice")
    currency = _text(_child(root, "DocumentCurrencyCode"))
    supplier = _first(_child(root, "AccountingSupplierParty"), "Party")
    customer = _first(_child(root, "AccountingCustomerParty"), "Party")
    totals = _child(root, "LegalMonetaryTotal")
    tax_totals = [child for child in root if _local(child.tag) == "TaxTotal"]
    tax = None
    for tax_total in tax_totals:
        amount = _child(tax_total, "TaxAmount")
        if amount is not None and (currency is None or amount.get("currencyID") == currency):
            tax = _amount(amount)
            break
    found: dict[str, str | list[LineItem] | None] = {
        "invoice_number": _text(_child(root, "ID")),
        "issue_date": _date(_child(root, "IssueDate")),
        "due_date": _date(_child(root, "DueDate"))
        or _date(_first(_child(root, "PaymentMeans"), "PaymentDueDate"))  # UBL 2.0 style
        or _date(_first(_child(root, "PaymentTerms"), "PaymentDueDate")),
        "currency": currency,
        "total_amount": _amount(_child(totals, "TaxInclusiveAmount")),
        "net_amount": _amount(_child(totals, "TaxExclusiveAmount")),
        "tax_amount": tax,
        "amount_due": _amount(_child(totals, "PayableAmount")),
        "supplier_name": _party_name(supplier),
        "supplier_vat_number": _ubl_vat_id(supplier),
        "iban": _text(_child(_first(root, "PayeeFinancialAccount"), "ID")),
        "buyer_name": _party_name(customer),
        "lines": _ubl_lines(root) or None,
    }
    type_code = _text(_child(root, "InvoiceTypeCode", "CreditNoteTypeCode"))
    if type_code is None:
        type_code = "381" if _local(root.tag) == "CreditNote" else "380"
    return _result(found, type_code, _text(_child(root, "CustomizationID")), file_name)


def _party_name(party: Element | None) -> str | None:
    legal = _text(_child(_child(party, "PartyLegalEntity"), "RegistrationName"))
    return legal or _text(_child(_child(party, "PartyName"), "Name"))


def _ubl_vat_id(party: Element | None) -> str | None:
    for scheme in party if party is not None else []:
        if _local(scheme.tag) != "PartyTaxScheme":
            continue
        if _text(_first(_child(scheme, "TaxScheme"), "ID")) in (None, "VAT"):
            return _text(_child(scheme, "CompanyID"))
    return None


def _ubl_lines(root: Element) -> list[LineItem]:
    items: list[LineItem] = []
    for line in root:
        if _local(line.tag) not in ("InvoiceLine", "CreditNoteLine"):
            continue
        price = _text(_child(_child(line, "Price"), "PriceAmount"))
        items.append(
            {
                "description": _text(_child(_child(line, "Item"), "Name")),
                "quantity": _quantity(_text(_child(line, "InvoicedQuantity", "CreditedQuantity"))),
                "unit_price": values.format_price(Decimal(price)) if price else None,
                "amount": _amount(_child(line, "LineExtensionAmount")),
            }
        )
    return items


def parse_xml(xml: bytes | Element, file_name: str | None = None) -> InvoiceResult:
    """An e-invoice in either syntax: CII (Factur-X, ZUGFeRD, XRechnung CII) or UBL."""
    root = xml if isinstance(xml, Element) else _parse(xml)
    return parse_ubl(root, file_name) if _is_ubl(root) else parse_cii(root, file_name)


def _checks(fields: dict[str, FieldResult]) -> None:
    """The same checks as on a page: checksums, and net + tax = total."""
    vat = fields["supplier_vat_number"]
    if isinstance(vat.value, str):
        checked = values.normalize_vat(vat.value)
        vat.value = checked.value
        apply_check(vat, checked)
    iban = fields["iban"]
    if isinstance(iban.value, str):
        checked = values.normalize_iban(iban.value)
        iban.value = checked.value
        apply_check(iban, checked)
    amounts = [fields[k].value for k in ("total_amount", "net_amount", "tax_amount")]
    if all(isinstance(a, str) for a in amounts):
        total, net, tax = (Decimal(str(a)) for a in amounts)
        cross_check(fields, abs(net + tax - total) <= TOLERANCE)
    for found in fields.values():
        if found.value is not None and not any(n.startswith("Check failed") for n in found.notes):
            found.score = 1.0  # what the issuer's software wrote: the checks only confirm it


def read(pdf_bytes: bytes) -> InvoiceResult | None:
    """The invoice from the PDF's embedded Factur-X / ZUGFeRD / XRechnung XML, or None when
    it carries none (or none that reads)."""
    embedded = find_embedded_xml(pdf_bytes)
    if embedded is None:
        return None
    name, root = embedded
    try:
        return parse_xml(root, name)
    except FacturXError:
        return None


read_facturx = read  # the name that says what it reads, for callers outside the package

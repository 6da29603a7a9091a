"""PAdES signatures and drawn-signature stamps on PDFs.

Synchronous and CPU-bound: callers run these in a worker thread. pyHanko drives its own event
loop (`asyncio.run`) inside `seal` and `verify`, so they must not be called from a thread that
is running one.

Both `stamp` and `seal` add an incremental update: the bytes given stay the first part of the
result, so a signature already in the document still covers exactly what it covered. Only
`seal` adds what an earlier signature allows (a signature field, with the drawn signature as
its appearance); `stamp` changes a page's content, which no signature allows.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import pikepdf
from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils import content, generic, layout
from pyhanko.pdf_utils.images import pil_image
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter, enumerate_sig_fields
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation import read_certification_data, validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko.stamp import BaseStamp, BaseStampStyle, TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from formcase.pdf.material import SigningMaterial

# An existing, visible signature field gets a blank appearance: the drawn signature `stamp`
# put on the page shows through instead of pyHanko's text box.
_BLANK_APPEARANCE = TextStampStyle(stamp_text="", border_width=0, background=None)


# What `verify` asks of a signer's certificate: either usage that signs documents (pyHanko
# alone would insist on non-repudiation).
_SIGNING_USAGE = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"})


class CannotSign(ValueError):
    """A document that cannot be signed or stamped as asked; the message says why."""


class Refused(CannotSign):
    """A document whose own signatures forbid what was asked: signing it would break them."""


def _signer(material: SigningMaterial) -> signers.SimpleSigner:
    certificate = _asn1_certificate(material.certificate)
    key = asn1_keys.PrivateKeyInfo.load(
        material.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    registry = SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
        [certificate, *(_asn1_certificate(c) for c in material.chain)]
    )
    return signers.SimpleSigner(signing_cert=certificate, signing_key=key, cert_registry=registry)


@dataclass(frozen=True)
class SignatureCheck:
    """What a verifier sees of one signature of a PDF."""

    field_name: str
    intact: bool  # the signed bytes are unchanged
    valid: bool  # intact, cryptographically sound and made by a trusted certificate
    signer: str  # the signing certificate's subject
    whole_document: bool  # nothing was appended after this signature


def _asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _writer(pdf: bytes) -> tuple[IncrementalPdfFileWriter, bytes]:
    """An incremental writer on `pdf` after the checks every operation here shares, and the
    bytes it appends to: `pdf` itself, or `pdf` rewritten by qpdf when its structure is too
    damaged for an incremental update (a cross-reference table missing or wrong)."""
    if b"%PDF-" not in pdf[:1024]:
        raise CannotSign("This file is not a PDF.")
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    except (PdfError, ValueError, KeyError, TypeError, IndexError):
        pdf = _repaired(pdf)
        try:
            writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise CannotSign(f"This PDF cannot be read ({exc}).") from None
    if writer.prev.encrypted:
        raise CannotSign("This PDF is encrypted; it cannot be signed.")
    return writer, pdf


def _repaired(pdf: bytes) -> bytes:
    try:
        with pikepdf.open(io.BytesIO(pdf)) as document:
            if document.is_encrypted:
                raise CannotSign("This PDF is encrypted; it cannot be signed.")
            # qpdf writes /Size (which pyHanko needs) only when the trailer has one already;
            # its value is recomputed on save.
            document.trailer.Size = 0
            out = io.BytesIO()
            document.save(out)
    except pikepdf.PasswordError:
        raise CannotSign("This PDF is encrypted; it cannot be signed.") from None
    except pikepdf.PdfError as exc:
        raise CannotSign(f"This PDF cannot be read ({exc}).") from None
    return out.getvalue()


def seal(
    pdf: bytes,
    material: SigningMaterial,
    *,
    field_name: str,
    reason: str,
    location: str | None = None,
    signer_name: str | None = None,
    drawn: Drawn | None = None,
) -> bytes:
    """`pdf` with a PAdES-B-B signature (SHA-256, certificate embedded, no timestamp) in the
    signature field `field_name`: an existing empty one, else a new one, invisible, or with
    `drawn` as its appearance where `drawn` says. When `drawn` names an empty signature field
    of the document, that field is signed instead.

    Everything is one incremental update that earlier signatures allow (a new signature field
    and its widget; nothing in the pages' content), so they stay valid. A document certified
    with no change allowed is refused; one certified for form filling can only be signed
    invisibly or in its own empty signature fields (a new visible field would void the
    certification for pyHanko's validator, which follows the standard strictly)."""
    writer, pdf = _writer(pdf)
    _refuse_if_certified_unchangeable(writer.prev)
    style: BaseStampStyle = _BLANK_APPEARANCE
    new_field: SigFieldSpec | None = None
    if drawn is not None:
        placement = _placement(pdf, drawn)
        x0, y0, _, _ = placement.rect
        a, b, c, d, e, f = placement.matrix
        # The appearance's origin is the field's lower-left corner.
        style = _DrawnStyle(image=placement.image, matrix=(a, b, c, d, e - x0, f - y0))
        empty = [name for name, _, _ in enumerate_sig_fields(writer.prev, filled_status=False)]
        if drawn.field is not None and drawn.field in empty:
            field_name = drawn.field
        else:
            if read_certification_data(writer.prev) is not None:
                hint = (
                    f" (its empty signature fields: {', '.join(empty[:20])})"
                    if empty
                    else " (it has none)"
                )
                raise Refused(
                    "This PDF is certified: it allows a signature only in one of its own empty "
                    f"signature fields; name one as the document's field{hint}."
                )
            # pyHanko writes the box as given: points need no rounding to whole numbers.
            box = cast(tuple[int, int, int, int], placement.rect)
            new_field = SigFieldSpec(field_name, on_page=placement.page, box=box)
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=reason,
        location=location,
        name=signer_name,
    )
    signer = signers.PdfSigner(
        metadata, signer=_signer(material), stamp_style=style, new_field_spec=new_field
    )
    try:
        out = signer.sign_pdf(writer)
    except (SigningError, PdfError) as exc:
        raise CannotSign(f"This PDF cannot be signed in field '{field_name}' ({exc}).") from None
    result: bytes = out.getvalue()
    return result


def _refuse_if_certified_unchangeable(reader: PdfFileReader) -> None:
    certification = read_certification_data(reader)
    if certification is None or certification.permission is not MDPPerm.NO_CHANGES:
        return
    author = ""
    for embedded in reader.embedded_signatures:
        if embedded.docmdp_level is not None:
            try:
                author = f" by {embedded.signer_cert.subject.human_friendly}"
            except (ValueError, KeyError, TypeError):
                author = ""  # a broken certificate: the refusal stands without the name
    raise Refused(
        f"This PDF is certified{author} with no change allowed (DocMDP level 1): "
        "it cannot be signed without breaking that certification."
    )


def signed(pdf: bytes) -> bool:
    """Whether `pdf` carries a signature (a filled signature field)."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        return any(True for _ in enumerate_sig_fields(reader, filled_status=True))
    except (PdfError, ValueError, KeyError, TypeError, IndexError):
        return False  # unreadable: `stamp` and `seal` say why


def verify(pdf: bytes, trust_pem: str) -> list[SignatureCheck]:
    """Every signature of `pdf`, checked against one trusted certificate (no network)."""
    trusted = _asn1_certificate(x509.load_pem_x509_certificate(trust_pem.encode()))
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    checks = []
    for embedded in reader.embedded_signatures:
        context = ValidationContext(trust_roots=[trusted], allow_fetching=False)
        status = validate_pdf_signature(embedded, context, key_usage_settings=_SIGNING_USAGE)
        checks.append(
            SignatureCheck(
                field_name=embedded.field_name,
                intact=bool(status.intact),
                valid=bool(status.bottom_line),
                signer=status.signing_cert.subject.human_friendly,
                whole_document=status.coverage is SignatureCoverageLevel.ENTIRE_FILE,
            )
        )
    return checks


# --- stamping the drawn signature -------------------------------------------------------


@dataclass(frozen=True)
class _Page:
    index: int
    box: tuple[float, float, float, float]  # the visible box (CropBox), user space
    rotate: int  # 0, 90, 180 or 270, clockwise as displayed

    @property
    def size(self) -> tuple[float, float]:
        """Width and height as displayed."""
        x0, y0, x1, y1 = self.box
        width, height = x1 - x0, y1 - y0
        return (height, width) if self.rotate in (90, 270) else (width, height)

    def to_user(self, x: float, y: float) -> tuple[float, float]:
        """A point given from the displayed page's top-left corner (y down), in user space."""
        x0, y0, x1, y1 = self.box
        if self.rotate == 90:
            return x0 + y, y0 + x
        if self.rotate == 180:
            return x1 - x, y0 + y
        if self.rotate == 270:
            return x1 - y, y1 - x
        return x0 + x, y1 - y

    def to_display(self, x: float, y: float) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        if self.rotate == 90:
            return y - y0, x - x0
        if self.rotate == 180:
            return x1 - x, y - y0
        if self.rotate == 270:
            return y1 - y, x1 - x
        return x - x0, y1 - y


def _inherited(page: pikepdf.Dictionary, key: str) -> Any:
    node: Any = page
    for _ in range(64):  # a page tree deeper than this is a loop
        if node is None:
            return None
        if key in node:
            return node[key]
        node = node.get("/Parent")
    return None


def _box(value: Any) -> tuple[float, float, float, float] | None:
    try:
        a, b, c, d = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return min(a, c), min(b, d), max(a, c), max(b, d)


def _page(document: pikepdf.Pdf, index: int) -> _Page:
    page = document.pages[index].obj
    box = _box(_inherited(page, "/CropBox")) or _box(_inherited(page, "/MediaBox"))
    if box is None:
        box = (0.0, 0.0, 612.0, 792.0)  # what readers assume (US Letter) when it is missing
    try:
        rotate = int(_inherited(page, "/Rotate") or 0) % 360
    except (TypeError, ValueError):
        rotate = 0
    return _Page(index, box, rotate if rotate in (0, 90, 180, 270) else 0)


def _fields(nodes: Any, parent: str = "") -> Iterator[tuple[str, pikepdf.Dictionary]]:
    """Every AcroForm field and widget with its fully qualified name."""
    for node in nodes or []:
        if not isinstance(node, pikepdf.Dictionary):
            continue
        part = str(node.get("/T", ""))
        name = f"{parent}.{part}" if parent and part else part or parent
        yield name, node
        if "/Kids" in node:
            yield from _fields(node["/Kids"], name)


def _widget(document: pikepdf.Pdf, name: str) -> tuple[int, tuple[float, float, float, float]]:
    """The page index and rectangle (user space) of the first widget of field `name`."""
    acroform = document.Root.get("/AcroForm")
    fields = acroform.get("/Fields") if isinstance(acroform, pikepdf.Dictionary) else None
    found = [node for full, node in _fields(fields) if full == name]
    widgets = [node for node in found if _box(node.get("/Rect")) is not None]
    if not widgets:
        if found:
            raise CannotSign(f"The PDF field '{name}' has no place on a page.")
        known = sorted({full for full, _ in _fields(fields) if full})
        hint = f" (its fields: {', '.join(known[:20])})" if known else " (it has no form fields)"
        raise CannotSign(f"This PDF has no field named '{name}'{hint}.")
    widget = widgets[0]
    rect = _box(widget.get("/Rect"))
    assert rect is not None
    for index, page in enumerate(document.pages):
        annotations = page.obj.get("/Annots")
        if isinstance(annotations, pikepdf.Array) and any(
            a.is_indirect and widget.is_indirect and a.objgen == widget.objgen for a in annotations
        ):
            return index, rect
    owner = widget.get("/P")
    if owner is not None:
        for index, page in enumerate(document.pages):
            if page.obj.objgen == owner.objgen:
                return index, rect
    raise CannotSign(f"The PDF field '{name}' is on no page.")


def _fit(
    image: Image.Image, left: float, top: float, width: float, height: float
) -> tuple[float, float, float, float]:
    """The image's box inside the given one: as large as fits, aspect kept, centred."""
    scale = min(width / image.width, height / image.height)
    w, h = image.width * scale, image.height * scale
    return left + (width - w) / 2, top + (height - h) / 2, w, h


def _load_image(image_png: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(image_png))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CannotSign(f"The signature image cannot be read ({exc}).") from None
    if image.width < 1 or image.height < 1:
        raise CannotSign("The signature image is empty.")
    return image.convert("RGBA")


def _prepare_page(writer: IncrementalPdfFileWriter, index: int) -> None:
    """Give a page without content or resources empty ones, for pyHanko to add to."""
    page_ref, resources = writer.find_page_for_modification(index)  # type: ignore[no-untyped-call]
    page = page_ref.get_object()
    if "/Contents" not in page:
        page[generic.pdf_name("/Contents")] = generic.ArrayObject()
        writer.mark_update(page_ref)
    if resources is None:
        page[generic.pdf_name("/Resources")] = generic.DictionaryObject()  # type: ignore[no-untyped-call]
        writer.mark_update(page_ref)


def page_size(pdf: bytes, page: int = -1) -> tuple[float, float]:
    """Width and height of a page as displayed (its CropBox, turned by /Rotate), in points;
    `page` from 1, or from -1 for the last."""
    try:
        document = pikepdf.open(io.BytesIO(pdf))
    except pikepdf.PdfError as exc:
        raise CannotSign(f"This PDF cannot be read ({exc}).") from None
    with document:
        count = len(document.pages)
        if page == 0 or not -count <= page <= count:
            raise CannotSign(f"This PDF has {count} page(s); page {page} does not exist.")
        return _page(document, page - 1 if page > 0 else count + page).size


@dataclass(frozen=True)
class Drawn:
    """The contact's drawn signature (PNG) and where it goes: in the rectangle of the form
    field `field` (a signature field or any other widget), else at `left`, `top` (points from
    the top-left corner of the page as displayed) in a `width` x `height` box on `page`
    (from 1, or from -1 for the last). The image keeps its proportions, centred in the box."""

    image_png: bytes
    field: str | None = None
    page: int = -1
    left: float = 0
    top: float = 0
    width: float = 150
    height: float = 50


@dataclass(frozen=True)
class _Placement:
    page: int  # index, from 0
    rect: tuple[float, float, float, float]  # the box, user space
    matrix: tuple[float, float, float, float, float, float]  # the image's unit square, placed
    image: Image.Image


def _placement(pdf: bytes, drawn: Drawn) -> _Placement:
    if drawn.width <= 0 or drawn.height <= 0:
        raise CannotSign("The signature box needs a positive width and height.")
    image = _load_image(drawn.image_png)
    left, top, width, height = drawn.left, drawn.top, drawn.width, drawn.height
    try:
        document = pikepdf.open(io.BytesIO(pdf))
    except pikepdf.PdfError as exc:
        raise CannotSign(f"This PDF cannot be read ({exc}).") from None
    with document:
        count = len(document.pages)
        if drawn.field is not None:
            index, rect = _widget(document, drawn.field)
            target = _page(document, index)
            corners = [target.to_display(x, y) for x in rect[0::2] for y in rect[1::2]]
            left = min(x for x, _ in corners)
            top = min(y for _, y in corners)
            width = max(x for x, _ in corners) - left
            height = max(y for _, y in corners) - top
            if width <= 0 or height <= 0:
                raise CannotSign(
                    f"The PDF field '{drawn.field}' has no area to put a signature in."
                )
        else:
            page = drawn.page
            if page == 0 or not -count <= page <= count:
                raise CannotSign(
                    f"This PDF has {count} page(s); page {page} does not exist "
                    "(pages count from 1, or from -1 for the last)."
                )
            target = _page(document, page - 1 if page > 0 else count + page)
    x, y, w, h = _fit(image, left, top, width, height)
    # The image's unit square mapped to where it goes: (0,0) its bottom-left, as displayed.
    origin = target.to_user(x, y + h)
    right = target.to_user(x + w, y + h)
    up = target.to_user(x, y)
    matrix = (
        right[0] - origin[0],
        right[1] - origin[1],
        up[0] - origin[0],
        up[1] - origin[1],
        origin[0],
        origin[1],
    )
    corners = [target.to_user(left, top), target.to_user(left + width, top + height)]
    box = (
        min(x for x, _ in corners),
        min(y for _, y in corners),
        max(x for x, _ in corners),
        max(y for _, y in corners),
    )
    return _Placement(target.index, box, matrix, image)


@dataclass(frozen=True)
class _DrawnStyle(BaseStampStyle):
    """A signature appearance that is the drawn image, placed by `matrix` in the field."""

    image: Image.Image | None = None
    matrix: tuple[float, float, float, float, float, float] = (1, 0, 0, 1, 0, 0)
    border_width: int = 0

    def create_stamp(
        self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict[str, Any]
    ) -> _DrawnStamp:
        return _DrawnStamp(writer=writer, style=self, box=box)


class _DrawnStamp(BaseStamp):
    def _render_inner_content(self) -> list[bytes]:
        style = self.style
        assert isinstance(style, _DrawnStyle) and style.image is not None
        assert self.writer is not None
        self.set_resource(
            category=content.ResourceType.XOBJECT,
            name=generic.pdf_name("/FcSig"),
            value=pil_image(style.image, self.writer),
        )
        numbers = " ".join(f"{v:.4f}" for v in style.matrix).encode()
        return [b"q %s cm /FcSig Do Q" % numbers]


def stamp(
    pdf: bytes,
    image_png: bytes,
    *,
    field: str | None = None,
    page: int = -1,
    left: float = 0,
    top: float = 0,
    width: float = 150,
    height: float = 50,
) -> bytes:
    """`pdf` with the drawn signature image in a page's content, placed as `Drawn` says.

    For documents that are merged afterwards (the merge rewrites them anyway): a signature
    already in `pdf` would not allow a change of page content; `seal(..., drawn=...)` puts the
    drawn signature in a new signature field instead."""
    writer, pdf = _writer(pdf)  # first, so that a file that is no PDF says so
    placement = _placement(pdf, Drawn(image_png, field, page, left, top, width, height))
    name = "/FcSig" + secrets.token_hex(4)
    image_ref = pil_image(placement.image, writer)
    xobjects = generic.DictionaryObject({generic.pdf_name(name): image_ref})  # type: ignore[no-untyped-call]
    resources = generic.DictionaryObject({generic.pdf_name("/XObject"): xobjects})  # type: ignore[no-untyped-call]
    # The page's own content is wrapped in q/Q so that a transformation it leaves behind
    # cannot move or skew the image.
    before = writer.add_object(generic.StreamObject(stream_data=b"q\n"))
    drawing = b"\nQ\nq %s cm %s Do Q\n" % (
        " ".join(f"{v:.4f}" for v in placement.matrix).encode(),
        name.encode(),
    )
    after = writer.add_object(generic.StreamObject(stream_data=drawing))
    try:
        _prepare_page(writer, placement.page)
        writer.add_stream_to_page(placement.page, before, prepend=True)  # type: ignore[no-untyped-call]
        writer.add_stream_to_page(placement.page, after, resources=resources)  # type: ignore[no-untyped-call]
        out = io.BytesIO()
        writer.write(out)  # type: ignore[no-untyped-call]
    except (PdfError, KeyError, TypeError) as exc:
        raise CannotSign(f"The signature cannot be put on this PDF ({exc}).") from None
    return out.getvalue()

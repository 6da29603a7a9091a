"""PAdES seals and drawn-signature stamps, checked with pyHanko's validator and by looking at
the rendered pages (pdftoppm)."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest
from PIL import Image, ImageChops, ImageDraw
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, append_signature_field
from reportlab.pdfgen.canvas import Canvas

from formcase.pdf.material import SigningMaterial
from formcase.pdf.signing import CannotSign, Drawn, Refused, page_size, seal, stamp, verify
from formcase.workspaces.certificates import self_signed
from tests.attachments.samples import PDF, encrypted_pdf
from tests.conftest import unavailable
from tests.pdf.others import (
    pdfsig_report,
    pyhanko_verdicts,
    root_pem,
    supplier_material,
    supplier_signs,
    with_empty_field,
)

BLUE = (20, 40, 200)


@pytest.fixture(scope="module")
def material() -> SigningMaterial:
    return self_signed("Acme Tests", "acme-tests")


def document(pages: int = 3, *, rotate_last: int = 0) -> bytes:
    """A PDF of `pages` A4 pages saying "page N"; the last one turned by `rotate_last`."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(595, 842), pageCompression=0)
    for number in range(1, pages + 1):
        canvas.drawString(72, 770, f"page {number}")
        canvas.showPage()
    canvas.save()
    if not rotate_last:
        return out.getvalue()
    with pikepdf.open(io.BytesIO(out.getvalue())) as pdf:
        pdf.pages[-1].obj.Rotate = rotate_last
        rotated = io.BytesIO()
        pdf.save(rotated)
        return rotated.getvalue()


def with_field(pdf: bytes, name: str, page: int, box: tuple[int, int, int, int]) -> bytes:
    """`pdf` with an empty signature field (page counted from 0, box in user space)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    append_signature_field(writer, SigFieldSpec(name, on_page=page, box=box))
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def drawing(width: int = 400, height: int = 100, *, left_half: bool = False) -> bytes:
    """A drawn signature: blue ink all over, or on the left half only (the rest
    transparent), which shows whether it is upright."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    inked = width // 2 if left_half else width
    ImageDraw.Draw(image).rectangle([0, 0, inked - 1, height - 1], fill=(*BLUE, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def rendered(pdf: bytes, page: int, tmp_path: Path) -> Image.Image:
    """Page `page` (from 1) as displayed, at 72 dpi: one pixel per point."""
    source = tmp_path / "doc.pdf"
    source.write_bytes(pdf)
    prefix = tmp_path / f"page{page}"
    files = [str(source), str(prefix)]
    subprocess.run(
        ["pdftoppm", "-r", "72", "-f", str(page), "-l", str(page), "-png", "-singlefile", *files],
        check=True,
        capture_output=True,
    )
    return Image.open(f"{prefix}.png").convert("RGB")


def blue_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """The bounding box (left, top, right, bottom) of the signature's blue on a page."""
    red, green, blue = image.split()
    mask = ImageChops.multiply(
        ImageChops.multiply(
            blue.point(lambda v: 255 if v > 150 else 0), red.point(lambda v: 255 if v < 80 else 0)
        ),
        green.point(lambda v: 255 if v < 100 else 0),
    )
    return mask.getbbox()


def near(actual: tuple[int, int, int, int] | None, expected: tuple[float, ...]) -> bool:
    return actual is not None and all(
        abs(a - e) <= 2 for a, e in zip(actual, expected, strict=True)
    )


def images_on(pdf: bytes) -> list[int]:
    """How many stamped images each page shows."""
    with pikepdf.open(io.BytesIO(pdf)) as opened:
        return [
            sum(1 for name in page.get_images(recursive=False) if str(name).startswith("/FcSig"))
            for page in opened.pages
        ]


def test_a_seal_validates_and_covers_the_document(material: SigningMaterial) -> None:
    sealed = seal(
        document(),
        material,
        field_name="formcase-test",
        reason="Tested",
        location="Brussels",
        signer_name="Ann",
    )
    (check,) = verify(sealed, material.certificate_pem)
    assert check.field_name == "formcase-test"
    assert check.intact and check.valid and check.whole_document
    assert "Acme Tests" in check.signer and "formcase" in check.signer
    # PAdES: the CAdES detached subfilter, not the older adbe.pkcs7.detached.
    assert b"/ETSI.CAdES.detached" in sealed


def test_a_changed_byte_breaks_the_seal(material: SigningMaterial) -> None:
    sealed = seal(document(), material, field_name="seal", reason="Tested")
    assert sealed.count(b"(page 2)") == 1
    tampered = sealed.replace(b"(page 2)", b"(page 7)")
    (check,) = verify(tampered, material.certificate_pem)
    assert not check.intact and not check.valid


def test_a_seal_is_trusted_only_with_its_certificate(material: SigningMaterial) -> None:
    sealed = seal(document(), material, field_name="seal", reason="Tested")
    stranger = self_signed("Someone else", "other")
    (check,) = verify(sealed, stranger.certificate_pem)
    assert check.intact and not check.valid


def test_a_second_seal_keeps_the_first_valid(material: SigningMaterial) -> None:
    once = seal(document(), material, field_name="first", reason="One")
    twice = seal(once, material, field_name="second", reason="Two")
    assert twice.startswith(once)  # an incremental update
    first, second = verify(twice, material.certificate_pem)
    assert (first.field_name, second.field_name) == ("first", "second")
    assert first.valid and first.intact and not first.whole_document
    assert second.valid and second.intact and second.whole_document
    with pytest.raises(CannotSign, match="'first'"):
        seal(twice, material, field_name="first", reason="Again")


def test_stamp_at_a_place(tmp_path: Path) -> None:
    pdf = document()
    stamped = stamp(pdf, drawing(400, 100), page=2, left=100, top=200, width=200, height=200)
    assert stamped.startswith(pdf)
    assert images_on(stamped) == [0, 1, 0]
    # 4:1 kept inside a 200 x 200 box: 200 x 50, centred vertically (top 275 from the top).
    assert near(blue_box(rendered(stamped, 2, tmp_path)), (100, 275, 300, 325))
    assert blue_box(rendered(stamped, 1, tmp_path)) is None
    last = stamp(pdf, drawing(100, 100), page=-1, left=10, top=10, width=40, height=80)
    assert images_on(last) == [0, 0, 1]
    assert near(blue_box(rendered(last, 3, tmp_path)), (10, 30, 50, 70))


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_stamp_on_a_turned_page_is_upright_where_the_reader_sees_it(
    rotate: int, tmp_path: Path
) -> None:
    signature = drawing(400, 100, left_half=True)
    turned = document(rotate_last=rotate)
    stamped = stamp(turned, signature, page=-1, left=30, top=40, width=200, height=50)
    page = rendered(stamped, 3, tmp_path)
    assert page.size == ((595, 842) if rotate == 180 else (842, 595))
    # The inked left half of the image is on the left, as read.
    assert near(blue_box(page), (30, 40, 130, 90))


def test_stamp_in_a_named_field_then_seal_it(material: SigningMaterial, tmp_path: Path) -> None:
    # Field on the second page, 200 x 100 points, 100 points above the bottom.
    pdf = with_field(document(), "Client signature", 1, (150, 100, 350, 200))
    stamped = stamp(pdf, drawing(200, 100), field="Client signature")
    assert images_on(stamped) == [0, 1, 0]
    # The page is 842 high: the field's top is 842 - 200 = 642 from the top.
    assert near(blue_box(rendered(stamped, 2, tmp_path)), (150, 642, 350, 742))
    sealed = seal(stamped, material, field_name="Client signature", reason="Signed")
    (check,) = verify(sealed, material.certificate_pem)
    assert check.field_name == "Client signature" and check.valid
    # The seal's appearance is blank: the drawn signature still shows.
    assert near(blue_box(rendered(sealed, 2, tmp_path)), (150, 642, 350, 742))


def test_stamping_a_sealed_document_leaves_the_seal_intact(material: SigningMaterial) -> None:
    sealed = seal(document(), material, field_name="earlier", reason="Before")
    stamped = stamp(sealed, drawing(), page=1)
    assert stamped.startswith(sealed)
    (check,) = verify(stamped, material.certificate_pem)
    assert check.intact and not check.whole_document


def test_a_pdf_without_cross_reference_table_is_repaired_first(material: SigningMaterial) -> None:
    stamped = stamp(PDF, drawing(), page=1)
    assert images_on(stamped) == [1]
    (check,) = verify(seal(stamped, material, field_name="s", reason="r"), material.certificate_pem)
    assert check.valid


def test_what_cannot_be_signed(material: SigningMaterial) -> None:
    pdf = with_field(document(), "Signature", 0, (100, 100, 200, 150))
    cases: list[tuple[Callable[[], bytes], str]] = [
        (lambda: stamp(b"hello world", drawing()), "not a PDF"),
        (lambda: stamp(encrypted_pdf(), drawing()), "encrypted"),
        (lambda: seal(encrypted_pdf(), material, field_name="s", reason="r"), "encrypted"),
        (lambda: seal(b"\x89PNG...", material, field_name="s", reason="r"), "not a PDF"),
        (lambda: stamp(pdf, drawing(), field="Nowhere"), "no field named 'Nowhere'"),
        (lambda: stamp(pdf, drawing(), page=4), "3 page(s); page 4 does not exist"),
        (lambda: stamp(pdf, drawing(), page=-4), "page -4 does not exist"),
        (lambda: stamp(pdf, drawing(), page=0), "pages count from 1"),
        (lambda: stamp(pdf, b"not an image"), "signature image cannot be read"),
        (lambda: stamp(pdf, drawing(), width=0), "positive width"),
    ]
    for call, message in cases:
        with pytest.raises(CannotSign) as raised:
            call()
        assert message in str(raised.value), (message, str(raised.value))
    with pytest.raises(CannotSign, match="its fields: Signature"):
        stamp(pdf, drawing(), field="Signatur")


def test_poppler_trusts_a_seal_once_told_the_certificate(
    material: SigningMaterial, tmp_path: Path
) -> None:
    """The check docs/signing.md shows: pdfsig with an NSS database holding the certificate."""
    if not (shutil.which("pdfsig") and shutil.which("certutil")):
        unavailable("needs pdfsig (poppler-utils) and certutil (libnss3-tools): make apt-test")
    sealed = tmp_path / "sealed.pdf"
    sealed.write_bytes(seal(document(), material, field_name="formcase-response", reason="r"))
    pem = tmp_path / "workspace.pem"
    pem.write_text(material.certificate_pem)
    nss = f"sql:{tmp_path}"
    subprocess.run(["certutil", "-N", "-d", nss, "--empty-password"], check=True)
    trust = ["certutil", "-A", "-d", nss, "-n", "workspace", "-t", "CT,C,C", "-i", str(pem)]
    subprocess.run(trust, check=True)
    report = subprocess.run(
        ["pdfsig", "-nssdir", nss, str(sealed)], capture_output=True, text=True, check=True
    ).stdout
    assert "Signature is Valid." in report and "Certificate is Trusted." in report
    assert "Total document signed" in report


def test_page_size_is_as_displayed() -> None:
    """The default place of a signature (bottom right) is worked out from this."""
    turned = document(2, rotate_last=90)
    first_width, first_height = page_size(turned, 1)
    assert page_size(turned, -1) == (first_height, first_width)
    with pytest.raises(CannotSign, match="page 3 does not exist"):
        page_size(turned, 3)
    with pytest.raises(CannotSign, match="cannot be read"):
        page_size(b"not a pdf", 1)


# --- documents somebody else signed first -----------------------------------------------


@pytest.fixture(scope="module")
def supplier() -> SigningMaterial:
    return supplier_material()


def test_a_drawn_seal_keeps_the_supplier_signature_valid(
    material: SigningMaterial, supplier: SigningMaterial, tmp_path: Path
) -> None:
    offered = supplier_signs(document(), supplier)
    drawn = Drawn(drawing(400, 100), page=2, left=100, top=200, width=200, height=200)
    signed = seal(offered, material, field_name="formcase-contract", reason="Signed", drawn=drawn)
    assert signed.startswith(offered)
    trusted = [root_pem(supplier), material.certificate_pem]
    first, second = pyhanko_verdicts(signed, trusted)
    assert (first.field, second.field) == ("Supplier", "formcase-contract")
    assert first.bottom_line and "ACCEPTABLE_MODIFICATIONS" in first.summary, first.summary
    assert "Supplier Contracts" in first.signer and "Acme Tests" in second.signer
    assert second.bottom_line and "UNTOUCHED" in second.summary, second.summary
    report = pdfsig_report(signed, trusted, tmp_path)
    assert report.count("Signature is Valid.") == 2, report
    assert report.count("Certificate is Trusted.") == 2, report
    # The drawn signature is the seal's appearance, where it was asked, and nothing was
    # added to the pages' content.
    assert near(blue_box(rendered(signed, 2, tmp_path)), (100, 275, 300, 325))
    assert images_on(signed) == [0, 0, 0]


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_a_drawn_seal_on_a_turned_page_is_upright(
    rotate: int, material: SigningMaterial, tmp_path: Path
) -> None:
    drawn = Drawn(drawing(400, 100, left_half=True), page=-1, left=30, top=40, width=200, height=50)
    signed = seal(document(rotate_last=rotate), material, field_name="s", reason="r", drawn=drawn)
    assert near(blue_box(rendered(signed, 3, tmp_path)), (30, 40, 130, 90))
    (check,) = verify(signed, material.certificate_pem)
    assert check.valid


def test_a_drawn_seal_fills_the_empty_signature_field_it_names(
    material: SigningMaterial, tmp_path: Path
) -> None:
    pdf = with_field(document(), "Client signature", 1, (150, 100, 350, 200))
    drawn = Drawn(drawing(200, 100), field="Client signature")
    signed = seal(pdf, material, field_name="formcase-contract", reason="r", drawn=drawn)
    (check,) = verify(signed, material.certificate_pem)
    assert check.field_name == "Client signature" and check.valid
    assert near(blue_box(rendered(signed, 2, tmp_path)), (150, 642, 350, 742))


def test_a_document_certified_for_form_filling_is_signed_in_its_own_field(
    material: SigningMaterial, supplier: SigningMaterial, tmp_path: Path
) -> None:
    prepared = with_empty_field(document(), "Client", 0, (300, 100, 500, 160))
    certified = supplier_signs(prepared, supplier, certify=MDPPerm.FILL_FORMS)
    signed = seal(
        certified,
        material,
        field_name="formcase-contract",
        reason="r",
        drawn=Drawn(drawing(), field="Client"),
    )
    trusted = [root_pem(supplier), material.certificate_pem]
    first, second = pyhanko_verdicts(signed, trusted)
    assert (first.field, second.field) == ("Supplier", "Client")
    assert first.bottom_line and second.bottom_line, (first.summary, second.summary)
    report = pdfsig_report(signed, trusted, tmp_path)
    assert report.count("Signature is Valid.") == 2, report
    # A new visible field would void the certification for pyHanko: refused, naming the
    # fields that can be used.
    with pytest.raises(Refused, match=r"certified.*its empty signature fields: Client"):
        seal(certified, material, field_name="f", reason="r", drawn=Drawn(drawing(), page=1))


def test_a_document_certified_against_any_change_is_refused(
    material: SigningMaterial, supplier: SigningMaterial
) -> None:
    certified = supplier_signs(document(), supplier, certify=MDPPerm.NO_CHANGES)
    for drawn in (None, Drawn(drawing(), page=1)):
        with pytest.raises(Refused, match=r"Supplier Contracts.*no change allowed"):
            seal(certified, material, field_name="f", reason="r", drawn=drawn)

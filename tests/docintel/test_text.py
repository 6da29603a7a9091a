"""docintel.text and docintel.ocr on real documents: a PDF's text layer, the same PDF forced
through OCR, a scanned PDF, a PNG, a photo lying on its side, and the uploads that cannot be
read. No database: these run the same whatever FORMCASE_TEST_DATABASE_URL says."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pikepdf
import pillow_heif
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from formcase.docintel import scoring, text
from formcase.docintel.layout import Box, Document, Page, Word

DEV = scoring.dev_root()
ZUGFERD = DEV / "invoices-zugferd"
INVOICE2DATA = DEV / "invoices-invoice2data"
# A German EN 16931 sample invoice, 3 pages: "Nr. 471102" at the top of page 1, the total
# "215,07" on page 3.
RABATTE = "XML-Rechnung_FX_EN16931_Rabatte"


def dev_file(path: Path) -> bytes:
    """A file of the dev set (in the repository: a missing one fails the test)."""
    return path.read_bytes()


def ground_truth(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ZUGFERD / "gt" / f"{name}.json").read_text())
    return data


def words_named(page: Page, value: str) -> list[Word]:
    return [word for word in page.words if word.text == value]


def line_of(page: Page, value: str) -> str:
    return next(line.text for line in page.lines if value in line.text.split())


def assert_near(box: Box, other: Box, tolerance: float) -> None:
    for got, expected in zip(box.as_list(), other.as_list(), strict=True):
        assert abs(got - expected) <= tolerance, (box, other)


@pytest.fixture(scope="module")
def rabatte() -> bytes:
    return dev_file(ZUGFERD / "pdf" / f"{RABATTE}.pdf")


@pytest.fixture(scope="module")
def rabatte_text_layer(rabatte: bytes) -> Document:
    return text.read(rabatte, "application/pdf")


@pytest.fixture(scope="module")
def aws_png() -> bytes:
    return dev_file(INVOICE2DATA / "AmazonWebServices.png")


@pytest.fixture(scope="module")
def aws_read(aws_png: bytes) -> Document:
    return text.read(aws_png, "image/png")


def test_text_layer_gives_the_invoice_number_where_it_is_printed(
    rabatte: bytes, rabatte_text_layer: Document
) -> None:
    gt = ground_truth(RABATTE)
    document = rabatte_text_layer
    assert text.inspect(rabatte, "application/pdf", max_pages=20) == gt["pages"] == 3
    assert [page.number for page in document.pages] == [1, 2, 3]
    assert document.source == "text_layer"
    first = document.pages[0]
    assert (first.source, first.width, first.height, first.rotation) == (
        "text_layer",
        595.0,
        842.0,
        0,
    )
    assert first.sharpness is None  # nothing was photographed or scanned

    (number,) = words_named(first, gt["invoice_number"])
    box = number.box
    assert number.confidence == 1.0
    # printed in 14 pt near the top of an A4 page, right of "Nr.", left of the middle
    assert 0 < box.x0 < box.x1 < 0.6
    assert 0.03 < box.y0 < box.y1 < 0.12
    assert 0.01 < box.height < 0.03
    assert line_of(first, gt["invoice_number"]) == (
        "Handelsrechnung (380) Nr. 471102 vom 05.06.2018"
    )
    (label,) = [word for word in first.words if word.text == "Nr." and word.box.y0 < 0.12]
    assert label.box.x1 <= box.x0
    # every word lies on the page; words are words, not letters or whole lines
    every = [word for page in document.pages for word in page.words]
    assert all(0 <= w.box.x0 < w.box.x1 <= 1 and 0 <= w.box.y0 < w.box.y1 <= 1 for w in every)
    assert all(" " not in w.text and w.text for w in every)
    assert "Lieferantenstraße" in {w.text for w in every}
    assert "215,07" in {w.text for w in document.pages[2].words}  # gt total_amount 215.07
    assert gt["total_amount"] == "215.07"


def test_forced_ocr_reads_the_invoice_number_and_total_where_the_text_layer_has_them(
    rabatte: bytes, rabatte_text_layer: Document
) -> None:
    document = text.read(rabatte, "application/pdf", ocr=True)

    assert [page.source for page in document.pages] == ["ocr", "ocr", "ocr"]
    assert document.source == "ocr"
    first, last = document.pages[0], document.pages[2]
    assert (first.width, first.height, first.rotation) == (595.0, 842.0, 0)
    assert first.sharpness is not None and first.sharpness > 100  # a crisp rendering
    (number,) = words_named(first, "471102")
    (printed,) = words_named(rabatte_text_layer.pages[0], "471102")
    assert_near(number.box, printed.box, 0.02)
    assert number.confidence > 0.8
    assert "Handelsrechnung (380) Nr. 471102 vom" in line_of(first, "471102")
    (total,) = words_named(rabatte_text_layer.pages[2], "215,07")
    found = words_named(last, "215,07")
    assert found, last.text
    assert any(abs(word.box.center_y - total.box.center_y) < 0.02 for word in found)
    # German text survives OCR: umlauts and ß
    assert {"Lieferantenstraße", "München", "Währung:"} <= {w.text for w in first.words}


def test_a_scanned_pdf_without_a_text_layer_is_ocrd(rabatte: bytes) -> None:
    pdf = pdfium.PdfDocument(rabatte)
    try:
        image = pdf[0].render(scale=150 / 72).to_pil().convert("RGB")
    finally:
        pdf.close()
    buffer = io.BytesIO()
    image.save(buffer, "PDF", resolution=150)  # the page as a JPEG, as a scanner makes it
    scan = buffer.getvalue()

    (page,) = text.read(scan, "application/pdf").pages
    assert page.source == "ocr"
    assert page.sharpness is not None
    assert abs(page.width - 595) < 2 and abs(page.height - 842) < 2  # points, as the PDF says
    assert "471102" in {w.text for w in page.words}

    (skipped,) = text.read(scan, "application/pdf", ocr=False).pages
    assert (skipped.source, skipped.words) == ("text_layer", [])


def test_a_scan_with_a_line_of_added_text_is_still_ocrd(rabatte: bytes) -> None:
    pdf = pdfium.PdfDocument(rabatte)
    try:
        image = pdf[0].render(scale=150 / 72).to_pil().convert("RGB")
    finally:
        pdf.close()
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    page.drawImage(ImageReader(image), 0, 0, width=A4[0], height=A4[1])
    page.setFont("Helvetica", 6)  # the scanner's footer, as text: a text layer of 40 letters
    page.drawString(20, 5, "Scanned 2024-01-05 by ScanStation 3000, page 1 of 1")
    page.save()

    (read,) = text.read(buffer.getvalue(), "application/pdf").pages

    assert read.source == "ocr"
    assert "471102" in {w.text for w in read.words}
    assert "ScanStation" in read.text  # the footer is on the rendered page too


def test_a_rotated_pdf_page_gives_the_upright_page_boxes(
    rabatte: bytes, rabatte_text_layer: Document
) -> None:
    upright = sorted(rabatte_text_layer.pages[0].words, key=lambda w: (w.text, w.box.y0))
    for rotate in (90, 180, 270):
        pdf = pikepdf.open(io.BytesIO(rabatte))
        pdf.pages[0].Rotate = rotate
        buffer = io.BytesIO()
        pdf.save(buffer)

        page = text.read(buffer.getvalue(), "application/pdf").pages[0]

        # shown turned by /Rotate, read turned back
        assert page.rotation == (360 - rotate) % 360
        words = sorted(page.words, key=lambda w: (w.text, w.box.y0))
        assert [w.text for w in words] == [w.text for w in upright]
        for got, expected in zip(words, upright, strict=True):
            assert_near(got.box, expected.box, 1e-3)


def test_png_is_ocrd(aws_png: bytes, aws_read: Document) -> None:
    truth = json.loads((INVOICE2DATA / "AmazonWebServices.json").read_text())[0]
    assert text.inspect(aws_png, "image/png", max_pages=1) == 1
    (page,) = aws_read.pages

    assert (page.source, page.width, page.height, page.rotation) == ("ocr", 2975, 3850, 0)
    assert page.sharpness is not None and page.sharpness > 0
    assert line_of(page, truth["invoice_number"]).endswith("Invoice Number: 42183017")
    (number,) = words_named(page, truth["invoice_number"])
    # top right, in the invoice summary box
    assert 0.5 < number.box.x0 < number.box.x1 < 1 and 0.1 < number.box.y0 < number.box.y1 < 0.2
    assert number.confidence > 0.9
    assert "Amazon Web Services, Inc." in page.text
    assert f"${truth['amount']:.2f}" in {w.text for w in page.words}  # $4.11
    assert "August 3, 2014" in page.text  # gt date 2014-08-03


def test_a_photo_on_its_side_is_read_upright(aws_png: bytes, aws_read: Document) -> None:
    image = Image.open(io.BytesIO(aws_png)).convert("RGB")
    image.thumbnail((2000, 2000))
    lying = image.rotate(90, expand=True)  # counter-clockwise: the text runs upwards
    buffer = io.BytesIO()
    lying.save(buffer, "JPEG", quality=90)

    (page,) = text.read(buffer.getvalue(), "image/jpeg").pages

    assert page.rotation == 90  # turned a quarter clockwise to read it
    assert (page.width, page.height) == image.size  # the upright frame, portrait
    (number,) = words_named(page, "42183017")
    (expected,) = words_named(aws_read.pages[0], "42183017")
    assert_near(number.box, expected.box, 0.02)
    assert "Invoice Number: 42183017" in line_of(page, "42183017")


def test_a_skewed_photo_is_straightened(aws_png: bytes, aws_read: Document) -> None:
    image = Image.open(io.BytesIO(aws_png)).convert("RGB")
    image.thumbnail((2000, 2000))
    skewed = image.rotate(-4, expand=True, fillcolor="white")  # 4° clockwise
    buffer = io.BytesIO()
    skewed.save(buffer, "PNG")

    (page,) = text.read(buffer.getvalue(), "image/png").pages

    assert page.rotation == 0
    (number,) = words_named(page, "42183017")
    (expected,) = words_named(aws_read.pages[0], "42183017")
    # straightened: the number's box is as flat as on the straight page, not 4° of slope
    assert number.box.height < expected.box.height * 1.5
    assert "Invoice Number: 42183017" in line_of(page, "42183017")


def test_heic_and_a_phone_jpeg_turned_by_exif_are_read() -> None:
    path = INVOICE2DATA / "SammyMaystoneLinesTest.png"
    upright = Image.open(path).convert("RGB")
    pillow_heif.register_heif_opener()
    heic = io.BytesIO()
    upright.save(heic, "HEIF", quality=80)
    # a phone stores the pixels as the sensor saw them and says in EXIF how to turn them
    stored = upright.rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90° clockwise to show"
    jpeg = io.BytesIO()
    stored.save(jpeg, "JPEG", quality=90, exif=exif)

    for data, media_type in ((heic.getvalue(), "image/heic"), (jpeg.getvalue(), "image/jpeg")):
        assert text.inspect(data, media_type, 1) == 1
        (page,) = text.read(data, media_type).pages
        assert (page.width, page.height) == upright.size == (1700, 2200)
        assert page.rotation == 0  # upright as any viewer shows it
        assert "Sammy Maystone INVOICE" in page.text
        assert "invoice_number_1" in page.text  # the ground truth's invoice number
        assert "Jan 1, 2022" in page.text  # its date, 2022-01-01


def test_an_encrypted_pdf_is_refused_with_what_to_do() -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    buffer = io.BytesIO()
    pdf.save(buffer, encryption=pikepdf.Encryption(user="secret", owner="owner"))
    locked = buffer.getvalue()

    for attempt in (
        lambda: text.inspect(locked, "application/pdf", 20),
        lambda: text.read(locked, "application/pdf"),
    ):
        with pytest.raises(text.UnreadableDocument) as caught:
            attempt()
        assert caught.value.message == str(caught.value)
        assert "encrypted PDF" in caught.value.message
        assert "password" in caught.value.message


def test_a_pdf_with_only_an_owner_password_is_read() -> None:
    # anyone can open it (no user password): its permissions do not stop reading
    pdf = pikepdf.new()
    pdf.add_blank_page()
    buffer = io.BytesIO()
    pdf.save(buffer, encryption=pikepdf.Encryption(user="", owner="owner"))
    assert text.inspect(buffer.getvalue(), "application/pdf", 20) == 1


@pytest.mark.parametrize(
    ("data", "media_type", "expected"),
    [
        (b"\x00\x01garbage bytes" * 50, "application/pdf", "is not a PDF"),
        (b"%PDF-1.7\n" + b"\x00garbage" * 50, "application/pdf", "not a readable PDF"),
        (b"\x00\x01garbage bytes" * 50, "image/png", "is not a PDF or an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png", "is not a PDF or an image"),
        (b"", "application/pdf", "is empty"),
        (b"hello", "text/plain", "is text/plain: send a PDF or a JPEG, PNG"),
    ],
)
def test_garbage_is_refused_with_a_clear_message(
    data: bytes, media_type: str, expected: str
) -> None:
    with pytest.raises(text.UnreadableDocument) as caught:
        text.inspect(data, media_type, 20)
    assert expected in caught.value.message
    with pytest.raises(text.UnreadableDocument) as again:
        text.read(data, media_type)
    assert again.value.message == caught.value.message


def test_the_page_limit_is_enforced() -> None:
    pdf = pikepdf.new()
    for _ in range(3):
        pdf.add_blank_page()
    buffer = io.BytesIO()
    pdf.save(buffer)
    three = buffer.getvalue()

    assert text.inspect(three, "application/pdf", max_pages=3) == 3
    with pytest.raises(text.UnreadableDocument) as caught:
        text.inspect(three, "application/pdf", max_pages=2)
    assert "has 3 pages, more than the limit of 2" in caught.value.message
    with pytest.raises(text.UnreadableDocument):
        text.read(three, "application/pdf", max_pages=2)
    # blank pages read as pages without words, OCR or not
    assert [page.words for page in text.read(three, "application/pdf", ocr=False).pages] == [
        [],
        [],
        [],
    ]

    frames = [Image.new("L", (200, 100), 255) for _ in range(3)]
    tiff = io.BytesIO()
    frames[0].save(tiff, "TIFF", save_all=True, append_images=frames[1:])
    assert text.inspect(tiff.getvalue(), "image/tiff", max_pages=3) == 3
    with pytest.raises(text.UnreadableDocument) as caught:
        text.inspect(tiff.getvalue(), "image/tiff", max_pages=2)
    assert "has 3 pages, more than the limit of 2" in caught.value.message


def test_a_mislabelled_upload_is_read_for_what_it_is() -> None:
    png = io.BytesIO()
    Image.new("RGB", (120, 80), "white").save(png, "PNG")
    assert text.inspect(png.getvalue(), "image/jpeg", 20) == 1
    (page,) = text.read(png.getvalue(), "image/jpeg").pages
    assert (page.source, page.width, page.height, page.words) == ("ocr", 120, 80, [])

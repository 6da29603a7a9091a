"""The tesseract OCR engine (FORMCASE_DOCINTEL_OCR_ENGINE=tesseract): the dev set's PNG and a
PDF forced through OCR give their invoice numbers and totals where they are printed, pages on
their side, upside down or skewed are read upright, and the setting reaches the reading.

Skipped when the `tesseract` command is absent, except in CI (where `make` installs Debian's
tesseract-ocr, so a missing one is a failure). No database."""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Iterator

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from PIL import Image
from pydantic import ValidationError
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from formcase.config import Settings
from formcase.docintel import extract, ocr, tesseract, text
from formcase.docintel.layout import Document, Page
from tests.conftest import unavailable
from tests.docintel.test_text import (
    INVOICE2DATA,
    RABATTE,
    ZUGFERD,
    assert_near,
    dev_file,
    ground_truth,
    line_of,
    words_named,
)


@pytest.fixture(scope="session")
def tesseract_installed() -> None:
    if tesseract.available():
        return
    unavailable(
        "the tesseract command is not installed: `make apt-run` installs Debian's "
        "tesseract-ocr with its eng, fra, nld and deu data"
    )


needs_tesseract = pytest.mark.usefixtures("tesseract_installed")


def assert_sound(document: Document) -> None:
    """Words are words, on the page, with confidences 0..1 (tesseract's are 0..100)."""
    every = [word for page in document.pages for word in page.words]
    assert every
    assert all(w.text and " " not in w.text for w in every)
    assert all(0 <= w.box.x0 < w.box.x1 <= 1 and 0 <= w.box.y0 < w.box.y1 <= 1 for w in every)
    assert all(0 <= w.confidence <= 1 for w in every)
    assert sum(w.confidence for w in every) / len(every) > 0.7


@pytest.fixture(scope="module")
def aws_png() -> bytes:
    return dev_file(INVOICE2DATA / "AmazonWebServices.png")


@pytest.fixture(scope="module")
def aws_upright(tesseract_installed: None, aws_png: bytes) -> Page:
    """The PNG shrunk as a phone photo would be, read upright by tesseract."""
    image = Image.open(io.BytesIO(aws_png)).convert("RGB")
    image.thumbnail((2000, 2000))
    (page,) = text.read(_jpeg(image), "image/jpeg", ocr_engine="tesseract").pages
    return page


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@needs_tesseract
def test_png_read_by_tesseract_gives_the_invoice_number_and_total(aws_png: bytes) -> None:
    truth = json.loads((INVOICE2DATA / "AmazonWebServices.json").read_text())[0]
    document = text.read(aws_png, "image/png", ocr_engine="tesseract")
    (page,) = document.pages

    assert (page.source, page.width, page.height, page.rotation) == ("ocr", 2975, 3850, 0)
    assert_sound(document)
    assert line_of(page, truth["invoice_number"]).endswith("Invoice Number: 42183017")
    (number,) = words_named(page, truth["invoice_number"])
    # top right, in the invoice summary box, one word's height
    assert 0.5 < number.box.x0 < number.box.x1 < 1 and 0.1 < number.box.y0 < number.box.y1 < 0.2
    assert 0.004 < number.box.height < 0.02
    assert number.confidence > 0.9
    totals = words_named(page, f"${truth['amount']:.2f}")  # $4.11, in the summary and the table
    assert totals
    assert all(total.box.x0 > 0.8 for total in totals)  # the right-hand column
    assert "Amazon Web Services, Inc." in page.text


@needs_tesseract
def test_forced_ocr_by_tesseract_finds_number_and_total_where_the_text_layer_has_them() -> None:
    pdf = dev_file(ZUGFERD / "pdf" / f"{RABATTE}.pdf")
    gt = ground_truth(RABATTE)
    layer = text.read(pdf, "application/pdf")

    document = text.read(pdf, "application/pdf", ocr=True, ocr_engine="tesseract")

    assert [page.source for page in document.pages] == ["ocr", "ocr", "ocr"]
    first, last = document.pages[0], document.pages[2]
    assert (first.width, first.height, first.rotation) == (595.0, 842.0, 0)
    assert_sound(document)
    (number,) = words_named(first, gt["invoice_number"])
    (printed,) = words_named(layer.pages[0], gt["invoice_number"])
    assert_near(number.box, printed.box, 0.02)
    assert number.confidence > 0.7  # tesseract scores this 14 pt bold number 0.75
    assert "Handelsrechnung (380) Nr. 471102 vom" in line_of(first, "471102")
    (total,) = words_named(layer.pages[2], "215,07")  # gt total_amount 215.07
    found = words_named(last, "215,07")
    assert found, last.text
    assert any(abs(word.box.center_y - total.box.center_y) < 0.01 for word in found)
    assert any(abs(word.box.x1 - total.box.x1) < 0.02 for word in found)
    # German text survives: umlauts and ß
    assert {"Lieferantenstraße", "München", "Währung:"} <= {w.text for w in first.words}


@needs_tesseract
@pytest.mark.parametrize("degrees", [90, 180])
def test_a_photo_on_its_side_or_upside_down_is_read_upright_by_tesseract(
    aws_png: bytes, aws_upright: Page, degrees: int
) -> None:
    image = Image.open(io.BytesIO(aws_png)).convert("RGB")
    image.thumbnail((2000, 2000))
    turned = image.rotate(degrees, expand=True)  # counter-clockwise

    (page,) = text.read(_jpeg(turned), "image/jpeg", ocr_engine="tesseract").pages

    assert page.rotation == degrees  # turned back clockwise to read it
    assert (page.width, page.height) == image.size  # the upright frame, portrait
    (number,) = words_named(page, "42183017")
    (expected,) = words_named(aws_upright, "42183017")
    assert_near(number.box, expected.box, 0.01)
    assert "Invoice Number: 42183017" in line_of(page, "42183017")


@needs_tesseract
def test_a_skewed_photo_is_straightened_by_tesseract(aws_png: bytes, aws_upright: Page) -> None:
    image = Image.open(io.BytesIO(aws_png)).convert("RGB")
    image.thumbnail((2000, 2000))
    skewed = image.rotate(-4, expand=True, fillcolor="white")  # 4° clockwise

    (page,) = text.read(_jpeg(skewed), "image/jpeg", ocr_engine="tesseract").pages

    assert page.rotation == 0
    (number,) = words_named(page, "42183017")
    (expected,) = words_named(aws_upright, "42183017")
    # straightened: the box is as flat as on the straight page (4° of slope over the word's
    # width would more than double its height)
    assert number.box.height < expected.box.height * 1.3
    assert "Invoice Number: 42183017" in line_of(page, "42183017")


def _invoice_pdf() -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    page.setFont("Helvetica-Bold", 20)
    page.drawString(60, 770, "Facture")
    page.setFont("Helvetica", 12)
    page.drawString(60, 720, "Invoice number: INV-0117")
    page.drawString(60, 700, "Date: 05/06/2024")
    page.drawString(60, 640, "Prestations de conseil en gestion")
    page.drawString(60, 600, "Total TTC: 1234,56 EUR")
    page.save()
    return buffer.getvalue()


def _png_of(pdf: bytes) -> bytes:
    document = pdfium.PdfDocument(pdf)
    try:
        image = document[0].render(scale=200 / 72).to_pil().convert("RGB")
    finally:
        document.close()
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@needs_tesseract
def test_every_word_of_a_printed_page_is_read_where_the_text_layer_puts_it() -> None:
    pdf = _invoice_pdf()
    (layer,) = text.read(pdf, "application/pdf").pages

    (page,) = text.read(pdf, "application/pdf", ocr=True, ocr_engine="tesseract").pages

    assert page.source == "ocr" and page.rotation == 0
    read = {word.text: word for word in page.words}
    assert [w.text for w in layer.words if w.text not in read] == []
    for word in layer.words:
        assert_near(read[word.text].box, word.box, 0.01)
        assert read[word.text].confidence > 0.8


@pytest.fixture
def no_rapidocr(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """rapidocr made unusable, and the calls to the tesseract engine counted."""
    calls: list[int] = []
    real = tesseract.read_image

    def counted(bgr: ocr.Pixels) -> ocr.Reading:
        calls.append(1)
        return real(bgr)

    def refused(*args: object) -> None:
        raise AssertionError("rapidocr was used")

    monkeypatch.setattr(tesseract, "read_image", counted)
    monkeypatch.setattr(ocr, "engine", refused)
    yield calls


@needs_tesseract
def test_the_jobs_engine_reaches_the_reading(no_rapidocr: list[int]) -> None:
    request = extract.Request(
        template=None,
        fields=[
            {"key": "invoice_number", "name": "Invoice number", "type": "text", "hint": None},
            {"key": "total", "name": "Total TTC", "type": "number", "hint": None},
        ],
        language="fr",
        max_pages=5,
        ocr_engine="tesseract",
    )
    request = pickle.loads(pickle.dumps(request))  # as it crosses into the pool's process
    files = [extract.File(_png_of(_invoice_pdf()), "image/png")]

    results = extract.run(files, request)

    assert no_rapidocr == [1]
    values = {field["key"]: field["value"] for field in results["fields"]}
    assert values == {"invoice_number": "INV-0117", "total": "1234.56"}
    assert results["source"] == "ocr"
    # outside the job, reads are rapidocr's again
    with pytest.raises(AssertionError, match="rapidocr was used"):
        text.read(files[0].content, "image/png")


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().docintel_ocr_engine == "rapidocr"
    assert extract.Request(None, None, None, 20).ocr_engine == "rapidocr"
    monkeypatch.setenv("FORMCASE_DOCINTEL_OCR_ENGINE", "tesseract")
    assert Settings().docintel_ocr_engine == "tesseract"
    monkeypatch.setenv("FORMCASE_DOCINTEL_OCR_ENGINE", "easyocr")
    with pytest.raises(ValidationError, match="docintel_ocr_engine"):
        Settings()


def test_a_missing_tesseract_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("formcase.docintel.tesseract.shutil.which", lambda name: None)
    with pytest.raises(tesseract.TesseractError, match="tesseract-ocr") as caught:
        text.read(_png_of(_invoice_pdf()), "image/png", ocr_engine="tesseract")
    assert "FORMCASE_DOCINTEL_OCR_ENGINE" in str(caught.value)

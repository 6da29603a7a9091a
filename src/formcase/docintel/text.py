"""Uploaded bytes → `layout.Document`: a PDF's text layer, or OCR of scans and photos.

`inspect` is what the API does before it queues a job (cheap: no page is rendered or read);
`read` is what the worker does. Both raise `UnreadableDocument` with a message that reads
after the file's name ("'scan.pdf' is an encrypted PDF: …") and tells the caller what to do.

Boxes are fractions of the page as a viewer shows it (a PDF's /Rotate and a photo's EXIF
orientation applied), turned further when the text itself lies on its side: `Page.rotation`
is that further turn.

OCR is rapidocr's unless `read(..., ocr_engine="tesseract")`.

pdfium is not thread-safe and the API inspects uploads in worker threads: every pdfium call
of this module holds one process-wide lock (OCR, the slow part, runs outside it).
"""

from __future__ import annotations

import ctypes
import io
import math
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]
from PIL import Image, ImageOps, UnidentifiedImageError

from formcase.docintel.layout import Box, Document, Page, Word

if TYPE_CHECKING:
    from formcase.docintel.ocr import Pixels, Reading

OcrEngine = Literal["rapidocr", "tesseract"]

PDF = "application/pdf"
IMAGE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/webp", "image/tiff", "image/heic", "image/heif"}
)
ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}

SCAN_DPI = 200
# A rendered page larger than this (a poster, a drawing) is rendered at a lower resolution:
# OCR reads at 2000 px on the long side anyway.
MAX_RENDER_SIDE = 2800
# Photos are shrunk to this before OCR (same reason), which keeps a 48 MP photo's working
# copies within the worker's memory.
MAX_IMAGE_SIDE = 2800
MAX_IMAGE_PIXELS = 120_000_000
# A page whose text layer has fewer letters and digits than this is a scan (or a drawing).
MIN_TEXT_CHARS = 16
# ... and so is one mostly covered by an image with little text (a scan with a stamp or a
# footer added as text).
SCAN_IMAGE_COVER = 0.5
SCAN_TEXT_CHARS = 100
# A text layer this garbled (fonts without a Unicode map) is useless: the page is OCR'd.
MAX_GARBLED_SHARE = 0.3

_pdfium_lock = threading.RLock()


class UnreadableDocument(Exception):
    """The bytes cannot be read as a document; `message` says why, after the file's name."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def inspect(data: bytes, media_type: str, max_pages: int) -> int:
    """The number of pages, after the cheap checks done before a job is queued: a supported
    type whose content is what it says, a PDF that opens without a password, and a page
    count within `max_pages`."""
    kind = _kind(data, media_type)
    if kind == "pdf":
        with _pdf(data) as pdf, _pdfium_lock:
            count = len(pdf)
    else:
        with _image(data) as image:
            count = _frames(image)
    _check_pages(count, max_pages)
    return count


def read(
    data: bytes,
    media_type: str,
    *,
    ocr: bool | None = None,
    max_pages: int = 20,
    ocr_engine: OcrEngine = "rapidocr",
) -> Document:
    """The document's pages of words. A PDF page is read from its text layer; one whose text
    layer is empty, nearly so or garbled is rendered at 200 dpi and OCR'd. `ocr=True` OCRs
    every page (the scan path), `ocr=False` never does. Images are always OCR'd, by
    `ocr_engine`."""
    kind = _kind(data, media_type)
    if kind == "pdf":
        return Document(_read_pdf(data, ocr, max_pages, ocr_engine))
    return Document(_read_image(data, max_pages, ocr_engine))


# --- type and page checks --------------------------------------------------------------------


def _kind(data: bytes, media_type: str) -> Literal["pdf", "image"]:
    declared = media_type.split(";", 1)[0].strip().lower()
    declared = ALIASES.get(declared, declared)
    if declared != PDF and declared not in IMAGE_TYPES:
        raise UnreadableDocument(
            f"is {declared or 'of no media type'}: send a PDF or a JPEG, PNG, WebP, TIFF "
            "or HEIC image"
        )
    if not data:
        raise UnreadableDocument("is empty (0 bytes)")
    # A mislabelled file is read for what it is: clients send PDFs as image/* and the other
    # way round more often than they send garbage. Image signatures come first: they sit at
    # byte 0, while a PDF's header may follow up to 1 KB of junk (and so may an image's text).
    if _looks_like_image(data):
        return "image"
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if declared == PDF:
        raise UnreadableDocument("is not a PDF: its content has no PDF header")
    return "image"


def _looks_like_image(data: bytes) -> bool:
    head = data[:16]
    return (
        head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*"))
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or head[4:8] == b"ftyp"
    )


def _check_pages(count: int, max_pages: int) -> None:
    if count < 1:
        raise UnreadableDocument("has no pages")
    if count > max_pages:
        raise UnreadableDocument(
            f"has {count} pages, more than the limit of {max_pages}: split it, or send only "
            "the pages that matter"
        )


@contextmanager
def _pdf(data: bytes) -> Iterator[Any]:
    with _pdfium_lock:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
                raise UnreadableDocument(
                    "is an encrypted PDF that opens only with a password: send it without "
                    "the password protection"
                ) from None
            if exc.err_code == pdfium_c.FPDF_ERR_SECURITY:
                raise UnreadableDocument(
                    "is a PDF protected by a security handler that cannot be opened: send "
                    "it without the protection"
                ) from None
            raise UnreadableDocument(
                "is not a readable PDF: it is damaged or not a PDF at all"
            ) from None
    try:
        yield pdf
    finally:
        with _pdfium_lock:
            pdf.close()


_heif_registered = False


@contextmanager
def _image(data: bytes) -> Iterator[Image.Image]:
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        raise UnreadableDocument(
            "is not a PDF or an image that can be read (JPEG, PNG, WebP, TIFF, HEIC): its "
            "content is damaged or of another kind"
        ) from None
    try:
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise UnreadableDocument(
                f"is an image of {width} x {height} pixels, more than the limit of "
                f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels: send a smaller one"
            )
        yield image
    finally:
        image.close()


def _frames(image: Image.Image) -> int:
    # A multi-page TIFF is a document of pages; other formats' frames are animation.
    return int(getattr(image, "n_frames", 1)) if image.format == "TIFF" else 1


# --- images -------------------------------------------------------------------------------


def _read_image(data: bytes, max_pages: int, ocr_engine: OcrEngine) -> list[Page]:
    from formcase.docintel import ocr

    pages = []
    with _image(data) as image:
        count = _frames(image)
        _check_pages(count, max_pages)
        for index in range(count):
            image.seek(index)
            try:
                pixels, full_size = _decoded(image)
            except (OSError, ValueError, SyntaxError):
                raise UnreadableDocument("is a damaged image: it could not be decoded") from None
            reading = ocr.read_image(pixels, ocr_engine)
            pages.append(
                _ocr_page(index + 1, full_size, reading, ocr.sharpness(pixels), pixel_units=True)
            )
    return pages


def _decoded(image: Image.Image) -> tuple[Pixels, tuple[float, float]]:
    """The frame as upright RGB pixels (EXIF orientation applied, transparency on white),
    shrunk to at most MAX_IMAGE_SIDE, and the upright frame's full size in pixels."""
    import numpy as np

    width, height = image.size
    if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # orientations that swap the sides
        width, height = height, width
    if image.format == "JPEG":
        # decode at a fraction of the size straight away: far less memory and time
        image.draft("RGB", (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
    frame = ImageOps.exif_transpose(image) or image
    if frame.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        array = np.asarray(frame, dtype=np.float64)
        top = float(array.max()) or 1.0
        frame = Image.fromarray((array * (255.0 / top)).clip(0, 255).astype(np.uint8), "L")
    if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
        rgba = frame.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        frame = Image.alpha_composite(paper, rgba)
    frame = frame.convert("RGB")
    if max(frame.size) > MAX_IMAGE_SIDE:
        frame.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE), Image.Resampling.BILINEAR)
    return np.asarray(frame, dtype=np.uint8), (float(width), float(height))


def _ocr_page(
    number: int,
    size: tuple[float, float],
    reading: Reading,
    sharpness: float,
    *,
    pixel_units: bool,
) -> Page:
    """A page from an OCR reading. `size` is the page as shown (pixels of an image, points of
    a PDF page); the boxes are fractions of the reading's upright image, so the page's size is
    given in that frame: turned with it, and grown with the deskewed canvas."""
    width, height = size
    if reading.rotation in (90, 270):
        width, height = height, width
    if reading.skew:
        angle = math.radians(abs(reading.skew))
        width, height = (
            width * math.cos(angle) + height * math.sin(angle),
            width * math.sin(angle) + height * math.cos(angle),
        )
    if pixel_units:
        width, height = float(round(width)), float(round(height))
    else:
        width, height = round(width, 2), round(height, 2)
    return Page(
        number=number,
        width=width,
        height=height,
        source="ocr",
        words=reading.words,
        rotation=reading.rotation,
        sharpness=sharpness,
    )


# --- PDFs -----------------------------------------------------------------------------------


def _read_pdf(data: bytes, ocr: bool | None, max_pages: int, ocr_engine: OcrEngine) -> list[Page]:
    pages: list[Page] = []
    with _pdf(data) as pdf:
        with _pdfium_lock:
            count = len(pdf)
        _check_pages(count, max_pages)
        for index in range(count):
            with _pdfium_lock:
                page = pdf[index]
                try:
                    size = (float(page.get_width()), float(page.get_height()))
                    layer = None if ocr else _text_layer(page)
                    scan = ocr is True or (
                        ocr is None and layer is not None and _needs_ocr(page, layer)
                    )
                    pixels = _render(page) if scan else None
                finally:
                    page.close()
            if pixels is not None:
                from formcase.docintel import ocr as engine

                reading = engine.read_image(pixels, ocr_engine)
                sharpness = engine.sharpness(pixels)
                pages.append(_ocr_page(index + 1, size, reading, sharpness, pixel_units=False))
                continue
            assert layer is not None
            pages.append(_layer_page(index + 1, size, layer))
    return pages


def _render(page: Any) -> Pixels:
    import numpy as np

    width, height = page.get_width(), page.get_height()
    scale = min(SCAN_DPI / 72, MAX_RENDER_SIDE / max(width, height, 1))
    bitmap = page.render(scale=scale, rev_byteorder=True)  # RGB(A) order, not pdfium's BGR
    try:
        # a copy: the bitmap's buffer is pdfium's and goes with it
        return np.array(bitmap.to_numpy()[:, :, :3], dtype=np.uint8)
    finally:
        bitmap.close()


@dataclass
class _Char:
    text: str
    box: tuple[float, float, float, float]  # left, bottom, right, top in PDF page space
    angle: float  # radians, as pdfium gives it


@dataclass
class _Layer:
    """A page's text layer as words in page space, before they are placed on the page."""

    words: list[tuple[str, tuple[float, float, float, float], tuple[float, float]]] = field(
        default_factory=list
    )  # text, box, reading direction
    letters: int = 0  # letters and digits
    garbled: int = 0  # characters without a Unicode meaning
    chars: int = 0
    to_page: tuple[float, float, float, float, float, float] = (1, 0, 0, 1, 0, 0)


def _text_layer(page: Any) -> _Layer:
    """The page's characters grouped into words: a word ends at a space or a line break
    (written or generated by pdfium), at a gap wider than a fifth of the font's height, where
    the baseline moves or where the text direction changes."""
    layer = _Layer(to_page=_page_transform(page))
    textpage = page.get_textpage()
    try:
        count = pdfium_c.FPDFText_CountChars(textpage)
        rect = pdfium_c.FS_RECTF()
        current: list[_Char] = []
        high = 0  # a UTF-16 high surrogate waiting for its pair (pdfium's emoji)
        for index in range(count):
            code = pdfium_c.FPDFText_GetUnicode(textpage, index)
            if 0xD800 <= code < 0xDC00:
                high = code
                continue
            if 0xDC00 <= code < 0xE000 and high:
                code = 0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)
            high = 0
            char = chr(code) if 0 <= code < 0x110000 else "\ufffd"
            if code == 2:  # pdfium's mark of a hyphen that broke a word at the line end
                char = "-"
            generated = pdfium_c.FPDFText_IsGenerated(textpage, index) == 1
            if generated or char.isspace() or (code < 0x20 and code != 2):
                _flush(layer, current)
                continue
            if not pdfium_c.FPDFText_GetLooseCharBox(textpage, index, rect):
                continue
            box = (rect.left, rect.bottom, rect.right, rect.top)
            if box[2] <= box[0] and box[3] <= box[1]:
                continue
            angle = pdfium_c.FPDFText_GetCharAngle(textpage, index)
            item = _Char(char, box, angle if angle >= 0 else 0.0)
            layer.chars += 1
            if char.isalnum():
                layer.letters += 1
            elif _garbled(char) or pdfium_c.FPDFText_HasUnicodeMapError(textpage, index) == 1:
                layer.garbled += 1
            if current and not _continues(current[-1], item):
                _flush(layer, current)
            current.append(item)
        _flush(layer, current)
    finally:
        textpage.close()
    return layer


def _garbled(char: str) -> bool:
    category = unicodedata.category(char)
    return char == "\ufffd" or category in ("Co", "Cn", "Cc")


def _continues(previous: _Char, char: _Char) -> bool:
    turn = abs(previous.angle - char.angle) % (2 * math.pi)
    if min(turn, 2 * math.pi - turn) > 0.1:
        return False
    # Only the axis is taken from the angle: which way along it the text runs is left to the
    # boxes (pdfium's angles of rotated text do not follow one convention across PDFs).
    along = (math.cos(char.angle), math.sin(char.angle))
    across = (-along[1], along[0])
    size = max(_extent(previous.box, across), _extent(char.box, across))
    if size <= 0:
        return False
    start, end = _span(char.box, along)
    previous_start, previous_end = _span(previous.box, along)
    gap = max(start - previous_end, previous_start - end)  # negative: they overlap (ligatures)
    shift = abs(_centre(char.box, across) - _centre(previous.box, across))
    return gap <= 0.2 * size and shift <= 0.4 * size


def _span(box: tuple[float, float, float, float], axis: tuple[float, float]) -> tuple[float, float]:
    left, bottom, right, top = box
    values = [x * axis[0] + y * axis[1] for x in (left, right) for y in (bottom, top)]
    return min(values), max(values)


def _extent(box: tuple[float, float, float, float], axis: tuple[float, float]) -> float:
    low, high = _span(box, axis)
    return high - low


def _centre(box: tuple[float, float, float, float], axis: tuple[float, float]) -> float:
    low, high = _span(box, axis)
    return (low + high) / 2


def _flush(layer: _Layer, chars: list[_Char]) -> None:
    if chars:
        text = unicodedata.normalize("NFC", "".join(char.text for char in chars))
        left = min(char.box[0] for char in chars)
        bottom = min(char.box[1] for char in chars)
        right = max(char.box[2] for char in chars)
        top = max(char.box[3] for char in chars)
        # the reading direction, from the first character to the last (page space)
        if len(chars) > 1:
            dx = _centre(chars[-1].box, (1, 0)) - _centre(chars[0].box, (1, 0))
            dy = _centre(chars[-1].box, (0, 1)) - _centre(chars[0].box, (0, 1))
            direction = (dx, dy)
        else:
            direction = (math.cos(chars[0].angle), math.sin(chars[0].angle))
        layer.words.append((text, (left, bottom, right, top), direction))
        chars.clear()


def _page_transform(page: Any) -> tuple[float, float, float, float, float, float]:
    """(a, b, c, d, e, f) with page fraction x = a·px + c·py + e, y = b·px + d·py + f, for the
    page as pdfium renders it (crop box, /Rotate), taken from pdfium itself so that text
    boxes and rendered scans agree."""
    size = 1_000_000
    out_x, out_y = ctypes.c_int(), ctypes.c_int()

    def device(x: float, y: float) -> tuple[float, float]:
        pdfium_c.FPDF_PageToDevice(page, 0, 0, size, size, 0, x, y, out_x, out_y)
        return out_x.value / size, out_y.value / size

    origin = device(0, 0)
    unit_x = device(1000, 0)
    unit_y = device(0, 1000)
    a = (unit_x[0] - origin[0]) / 1000
    b = (unit_x[1] - origin[1]) / 1000
    c = (unit_y[0] - origin[0]) / 1000
    d = (unit_y[1] - origin[1]) / 1000
    return a, b, c, d, origin[0], origin[1]


def _needs_ocr(page: Any, layer: _Layer) -> bool:
    if layer.letters < MIN_TEXT_CHARS:
        return True
    if layer.chars and layer.garbled / layer.chars > MAX_GARBLED_SHARE:
        return True
    return layer.letters < SCAN_TEXT_CHARS and _image_cover(page) >= SCAN_IMAGE_COVER


def _image_cover(page: Any) -> float:
    """The largest share of the page one image covers. Images wrapped in a form XObject (as
    some scanners write them) count by the form's bounds: inside it, bounds are in the form's
    own space."""
    width, height = page.get_width(), page.get_height()
    area = max(width * height, 1.0)
    kinds = [pdfium_c.FPDF_PAGEOBJ_IMAGE, pdfium_c.FPDF_PAGEOBJ_FORM]
    largest = 0.0
    for item in page.get_objects(filter=kinds, max_depth=0):
        try:
            left, bottom, right, top = item.get_bounds()
        except pdfium.PdfiumError:
            continue
        largest = max(largest, (right - left) * (top - bottom) / area)
    return min(largest, 1.0)


def _layer_page(number: int, size: tuple[float, float], layer: _Layer) -> Page:
    """The text layer's words placed on the page as shown, turned upright when most of the
    text runs up, down or upside down there (a landscape table printed sideways)."""
    a, b, c, d, e, f = layer.to_page
    placed: list[tuple[str, Box]] = []
    weights = [0, 0, 0, 0]  # characters per reading direction, quarter turns on the page
    width, height = size
    for text, (left, bottom, right, top), (dx, dy) in layer.words:
        xs, ys = [], []
        for x, y in ((left, bottom), (left, top), (right, bottom), (right, top)):
            xs.append(a * x + c * y + e)
            ys.append(b * x + d * y + f)
        box = Box(_clamp(min(xs)), _clamp(min(ys)), _clamp(max(xs)), _clamp(max(ys)))
        if box.x1 <= box.x0 or box.y1 <= box.y0:
            continue  # outside the crop box: not shown, so not read
        placed.append((text, box))
        # the direction as shown, in a frame with y up, as a number of quarter turns
        # counter-clockwise from left-to-right
        shown_x = (a * dx + c * dy) * width
        shown_y = -(b * dx + d * dy) * height
        quarter = round(math.degrees(math.atan2(shown_y, shown_x)) / 90) % 4
        weights[quarter] += len(text)
    total = sum(weights)
    shown = max(range(4), key=lambda q: weights[q])
    # text running counter-clockwise by q quarters reads upright after q clockwise turns
    turn = 90 * shown if total and weights[shown] > 0.6 * total else 0
    if turn in (90, 270):
        width, height = height, width
    words = [Word(text, _turn_box(box, turn), 1.0) for text, box in placed]
    return Page(
        number=number,
        width=round(width, 2),
        height=round(height, 2),
        source="text_layer",
        words=words,
        rotation=turn,
    )


def _clamp(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def _turn_box(box: Box, degrees: int) -> Box:
    """The box on the page turned clockwise by `degrees`."""
    if degrees == 90:
        return Box(1 - box.y1, box.x0, 1 - box.y0, box.x1)
    if degrees == 180:
        return Box(1 - box.x1, 1 - box.y1, 1 - box.x0, 1 - box.y0)
    if degrees == 270:
        return Box(box.y0, 1 - box.x1, box.y1, 1 - box.x0)
    return box

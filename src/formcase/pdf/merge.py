"""Merge files into one PDF, in order: PDFs page for page (pikepdf), images as pages without
re-encoding where img2pdf can (JPEG, PNG; EXIF rotation kept as page rotation), HEIC photos
through Pillow, plain text typeset on A4 pages (reportlab)."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import img2pdf
import pikepdf
from PIL import Image, UnidentifiedImageError
from pillow_heif import register_heif_opener
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

register_heif_opener()
logging.getLogger("img2pdf").setLevel(logging.ERROR)  # it logs every alpha channel it meets

IMAGES_AS_IS = {"image/jpeg", "image/png", "image/jp2", "image/tiff", "image/gif"}
IMAGES_CONVERTED = {"image/heic", "image/heif", "image/webp", "image/bmp"}
TEXT = {"text/plain", "text/csv", "text/markdown", "application/json"}
MERGEABLE = {"application/pdf", *IMAGES_AS_IS, *IMAGES_CONVERTED, *TEXT}


@dataclass(frozen=True)
class Part:
    name: str
    type: str
    path: Path


class CannotMerge(Exception):
    """A part that cannot become PDF pages; the message says which and why."""


def merge(parts: list[Part], out: BinaryIO) -> int:
    """Write one PDF of all parts to `out`; returns its number of pages."""
    document = pikepdf.new()
    sources: list[pikepdf.Pdf] = []
    try:
        for group in _runs_of_plain_images(parts):
            together = _images_pdf(group) if len(group) > 1 else None
            for source in [together] if together else [_as_pdf(part) for part in group]:
                sources.append(source)
                document.pages.extend(source.pages)
        document.save(out)
        return len(document.pages)
    finally:
        for source in sources:
            source.close()


def _runs_of_plain_images(parts: list[Part]) -> list[list[Part]]:
    """Consecutive images that img2pdf embeds as they are go together (one PDF for the run,
    not one per image); every other part stands alone."""
    groups: list[list[Part]] = []
    for part in parts:
        if part.type in IMAGES_AS_IS and groups and groups[-1][0].type in IMAGES_AS_IS:
            groups[-1].append(part)
        else:
            groups.append([part])
    return groups


def _images_pdf(group: list[Part]) -> pikepdf.Pdf | None:
    """One PDF of the run, or None when one of them needs converting (then each is taken on
    its own, which also names the one that fails)."""
    try:
        return pikepdf.open(io.BytesIO(_convert([p.path.read_bytes() for p in group])))
    except (img2pdf.ImageOpenError, img2pdf.UnsupportedColorspaceError, ValueError):
        return None


def _as_pdf(part: Part) -> pikepdf.Pdf:
    if part.type == "application/pdf":
        try:
            return pikepdf.open(part.path)
        except pikepdf.PasswordError:
            raise CannotMerge(f"'{part.name}' is an encrypted PDF; it cannot be merged.") from None
        except pikepdf.PdfError as exc:
            raise CannotMerge(f"'{part.name}' is not a readable PDF ({exc}).") from None
    if part.type in IMAGES_AS_IS or part.type in IMAGES_CONVERTED:
        return pikepdf.open(io.BytesIO(_image_pdf(part)))
    if part.type in TEXT:
        return pikepdf.open(io.BytesIO(_text_pdf(part)))
    raise CannotMerge(f"'{part.name}' is {part.type}, which cannot be turned into PDF pages.")


# Pages of the image's own size, unless that is outside what PDF allows (a 2-pixel image
# makes a page under 3 points): then the image is fitted on an A4 page.
A4_FIT = img2pdf.get_layout_fun(
    pagesize=(img2pdf.mm_to_pt(210), img2pdf.mm_to_pt(297)), fit=img2pdf.FitMode.into
)


def _convert(images: bytes | list[bytes]) -> bytes:
    try:
        return bytes(img2pdf.convert(images))
    except ValueError as exc:
        if "Page size" not in str(exc):
            raise
        return bytes(img2pdf.convert(images, layout_fun=A4_FIT))


def _image_pdf(part: Part) -> bytes:
    content = part.path.read_bytes()
    if part.type in IMAGES_AS_IS:
        try:
            return _convert(content)
        except (img2pdf.ImageOpenError, img2pdf.UnsupportedColorspaceError, ValueError):
            pass  # a colour space img2pdf cannot embed as it is: re-encode below
    try:
        with Image.open(io.BytesIO(content)) as image:
            rgb = image.convert("RGB")
            exif = image.getexif()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CannotMerge(f"'{part.name}' is not a readable image ({exc}).") from None
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=92, exif=exif)
    try:
        return _convert(buffer.getvalue())
    except (img2pdf.ImageOpenError, ValueError) as exc:
        raise CannotMerge(f"'{part.name}' cannot be made a PDF page ({exc}).") from None


def _text_pdf(part: Part) -> bytes:
    text = part.path.read_bytes().decode("utf-8", "replace")
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4)
    font, size, leading, margin = "Courier", 9, 11, 18 * mm
    width, height = A4
    y = height - margin
    canvas.setFont(font, size)
    for line in _wrap(text, font, size, width - 2 * margin):
        if y < margin:
            canvas.showPage()
            canvas.setFont(font, size)
            y = height - margin
        canvas.drawString(margin, y, line)
        y -= leading
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _wrap(text: str, font: str, size: int, width: float) -> list[str]:
    lines: list[str] = []
    for raw in text.expandtabs(4).splitlines() or [""]:
        line = raw
        while stringWidth(line, font, size) > width:
            cut = max(1, int(len(line) * width / stringWidth(line, font, size)))
            lines.append(line[:cut])
            line = line[cut:]
        lines.append(line)
    return lines

"""What a file is, from its first bytes (never from what the uploader says), and how large an
image is, from its header."""

from __future__ import annotations

import io

import puremagic
from PIL import Image, UnidentifiedImageError
from pillow_heif import register_heif_opener

register_heif_opener()

HEAD_BYTES = 256 * 1024  # enough for magic numbers, and for a JPEG header behind its EXIF
EXIF_ORIENTATION = 0x0112

# puremagic answers these with the names used by older software; say them as browsers do.
CANONICAL = {"image/jpg": "image/jpeg", "application/x-pdf": "application/pdf"}
TEXT_TYPES = {".csv": "text/csv", ".json": "application/json", ".md": "text/markdown"}


# ISO base media files say what they are in their `ftyp` box; puremagic calls them all MP4.
HEIF_BRANDS = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"hevc": "image/heic-sequence",
    b"hevx": "image/heic-sequence",
    b"mif1": "image/heif",
    b"msf1": "image/heif-sequence",
    b"avif": "image/avif",
}


def detect_type(head: bytes, name: str) -> str:
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return HEIF_BRANDS[head[8:12]]
    try:
        found = puremagic.from_string(head, mime=True, filename=name)
    except (puremagic.PureError, ValueError):
        found = ""
    if found:
        return CANONICAL.get(found, found)
    if _is_text(head):
        suffix = name[name.rfind(".") :].lower() if "." in name else ""
        return TEXT_TYPES.get(suffix, "text/plain")
    return "application/octet-stream"


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the sample is still text.
        return exc.start >= len(head) - 3
    return True


def image_size(head: bytes, mime: str) -> tuple[int | None, int | None]:
    """Width and height as the image is shown (EXIF rotations swap them); None if unknown."""
    if not mime.startswith("image/"):
        return None, None
    try:
        with Image.open(io.BytesIO(head)) as image:
            width, height = image.size
            orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    except (UnidentifiedImageError, OSError, ValueError):
        return None, None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return width, height

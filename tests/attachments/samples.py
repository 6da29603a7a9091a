"""Files to upload, made on the spot, and the calls that upload and fetch them."""

from __future__ import annotations

import io
import zipfile

import httpx
import pikepdf
from PIL import Image

from tests.helpers import Tenant

# A minimal, valid one-page PDF.
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(out, "PNG")
    return out.getvalue()


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, "JPEG")
    return out.getvalue()


def jpeg_rotated(width: int, height: int) -> bytes:
    """A phone photo stored landscape, with EXIF orientation 6 (shown portrait)."""
    out = io.BytesIO()
    image = Image.new("RGB", (width, height), "blue")
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return out.getvalue()


async def upload(
    client: httpx.AsyncClient, tenant: Tenant, content: bytes, filename: str, **fields: str
) -> httpx.Response:
    files = {"file": (filename, content, "application/octet-stream")}
    return await client.post("/v1/attachments", files=files, data=fields, headers=tenant.headers)


async def fetch(
    client: httpx.AsyncClient, tenant: Tenant, attachment_id: str, **headers: str
) -> httpx.Response:
    return await client.get(
        f"/v1/attachments/{attachment_id}",
        headers={**tenant.headers, "Accept": "application/octet-stream", **headers},
    )


def pdf(*sizes: int) -> bytes:
    """A PDF with one square page per size (points)."""
    document = pikepdf.new()
    for size in sizes:
        document.add_blank_page(page_size=(size, size))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def heic(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "green").save(out, format="HEIF")
    return out.getvalue()


def encrypted_pdf() -> bytes:
    document = pikepdf.open(io.BytesIO(pdf(100)))
    out = io.BytesIO()
    document.save(out, encryption=pikepdf.Encryption(owner="owner", user="secret"))
    return out.getvalue()

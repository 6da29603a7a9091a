"""GET /v1/attachments?ids=…: one PDF of mixed files, in order, and clear refusals."""

from __future__ import annotations

import io
import uuid

import httpx
import pikepdf
import pytest

from tests.attachments.samples import encrypted_pdf, heic, jpeg, jpeg_rotated, pdf, png, upload
from tests.conftest import MakeTenant
from tests.helpers import Tenant, assert_error


def page_sizes(content: bytes) -> list[tuple[int, int]]:
    """(width, height) of each page as shown, rotation applied."""
    sizes = []
    with pikepdf.open(io.BytesIO(content)) as document:
        for page in document.pages:
            box = [float(v) for v in page.mediabox]
            width, height = round(box[2] - box[0]), round(box[3] - box[1])
            if int(page.obj.get("/Rotate", 0)) % 180:
                width, height = height, width
            sizes.append((width, height))
    return sizes


async def ids_of(client: httpx.AsyncClient, tenant: Tenant, *files: tuple[str, bytes]) -> list[str]:
    ids = []
    for name, content in files:
        response = await upload(client, tenant, content, name)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def test_mixed_files_merge_in_order(client: httpx.AsyncClient, tenant: Tenant) -> None:
    long_text = "\n".join(f"line {n}: " + "x" * 150 for n in range(120)).encode()
    ids = await ids_of(
        client,
        tenant,
        ("two.pdf", pdf(200, 300)),
        ("photo.jpg", jpeg_rotated(400, 300)),
        ("logo.png", png(120, 80)),
        ("phone.heic", heic(64, 48)),
        ("notes.txt", long_text),
        ("one.pdf", pdf(250)),
    )
    response = await client.get(
        f"/v1/attachments?ids={','.join(ids)}&filename=dossier", headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert 'filename="dossier.pdf"' in response.headers["content-disposition"]
    sizes = page_sizes(response.content)
    assert response.headers["x-page-count"] == str(len(sizes))
    assert sizes[0:2] == [(200, 200), (300, 300)]  # the PDF's own pages
    photo, logo, phone = sizes[2], sizes[3], sizes[4]
    assert photo[0] < photo[1]  # EXIF orientation 6: shown portrait
    assert logo[0] * 80 == logo[1] * 120  # the image's proportions
    assert phone[0] * 48 == phone[1] * 64
    text_pages = sizes[5:-1]
    assert len(text_pages) >= 2 and all(page == (595, 842) for page in text_pages)  # A4
    assert sizes[-1] == (250, 250)


async def test_tiny_images_are_fitted_on_a4(client: httpx.AsyncClient, tenant: Tenant) -> None:
    dot, pixel = await ids_of(client, tenant, ("dot.png", png(2, 2)), ("px.jpg", jpeg(1, 1)))
    for ids in (dot, pixel, f"{dot},{pixel}"):
        response = await client.get(f"/v1/attachments?ids={ids}", headers=tenant.headers)
        assert response.status_code == 200, response.text
        assert all(size == (595, 842) for size in page_sizes(response.content))


async def test_repeated_ids_repeat_pages(client: httpx.AsyncClient, tenant: Tenant) -> None:
    first, second = await ids_of(client, tenant, ("a.pdf", pdf(100)), ("b.pdf", pdf(150)))
    response = await client.get(
        f"/v1/attachments?ids={first},{second},{first}", headers=tenant.headers
    )
    assert page_sizes(response.content) == [(100, 100), (150, 150), (100, 100)]
    assert 'filename="attachments.pdf"' in response.headers["content-disposition"]


async def test_what_cannot_be_merged(client: httpx.AsyncClient, tenant: Tenant) -> None:
    good, blob, locked, broken = await ids_of(
        client,
        tenant,
        ("a.pdf", pdf(100)),
        ("data.bin", bytes(range(256))),
        ("locked.pdf", encrypted_pdf()),
        ("broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 50),
    )
    unsupported = await client.get(f"/v1/attachments?ids={good},{blob}", headers=tenant.headers)
    assert_error(unsupported, 422, "data.bin (application/octet-stream)")
    encrypted = await client.get(f"/v1/attachments?ids={good},{locked}", headers=tenant.headers)
    assert_error(encrypted, 422, "'locked.pdf' is an encrypted PDF")
    corrupt = await client.get(f"/v1/attachments?ids={broken}", headers=tenant.headers)
    assert_error(corrupt, 422, "'broken.pdf' is not a readable PDF")
    fine, damaged = await ids_of(
        client, tenant, ("fine.png", png(10, 10)), ("damaged.png", png(10, 10)[:40])
    )
    images = await client.get(f"/v1/attachments?ids={fine},{damaged}", headers=tenant.headers)
    assert_error(images, 422, "'damaged.png' is not a readable image")


@pytest.mark.parametrize(
    ("query", "status", "fragment"),
    [
        ("", 400, "ids"),
        ("?ids=", 400, "one or more attachment ids"),
        ("?ids=nope,also-bad", 400, "not attachment ids: nope, also-bad"),
        ("?ids=GOOD&filename=../x", 400, "path separator"),
    ],
)
async def test_bad_merge_requests(
    client: httpx.AsyncClient, tenant: Tenant, query: str, status: int, fragment: str
) -> None:
    (good,) = await ids_of(client, tenant, ("a.pdf", pdf(100)))
    response = await client.get(
        f"/v1/attachments{query.replace('GOOD', good)}", headers=tenant.headers
    )
    assert_error(response, status, fragment)


async def test_unknown_and_foreign_ids_are_named(
    client: httpx.AsyncClient, make_tenant: MakeTenant
) -> None:
    owner, stranger = await make_tenant(), await make_tenant()
    (theirs,) = await ids_of(client, owner, ("a.pdf", pdf(100)))
    (mine,) = await ids_of(client, stranger, ("b.pdf", pdf(100)))
    ghost = str(uuid.uuid4())
    missing = await client.get(f"/v1/attachments?ids={mine},{ghost}", headers=stranger.headers)
    assert_error(missing, 404, ghost)
    foreign = await client.get(f"/v1/attachments?ids={mine},{theirs}", headers=stranger.headers)
    assert_error(foreign, 403, theirs)

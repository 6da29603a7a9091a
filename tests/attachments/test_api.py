"""POST /v1/attachments and GET /v1/attachments/{id}: both upload styles, type detection,
downloads with ranges and validators, limits, bad inputs, workspace access."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from formcase.app import create_app
from formcase.attachments import service
from formcase.config import Settings
from tests.attachments.samples import PDF, docx, fetch, heic, jpeg_rotated, png, upload
from tests.conftest import Grant, MakeTenant
from tests.helpers import Tenant, assert_error


@pytest.mark.parametrize(
    ("name", "content", "kind", "size"),
    [
        ("scan.pdf", PDF, "application/pdf", (None, None)),
        ("photo.png", png(300, 200), "image/png", (300, 200)),
        ("phone.jpg", jpeg_rotated(400, 300), "image/jpeg", (300, 400)),
        ("notes.txt", "Grüße, €5\n".encode(), "text/plain", (None, None)),
        ("table.csv", b"a,b\n1,2\n", "text/csv", (None, None)),
        ("IMG_0001.HEIC", heic(64, 48), "image/heic", (64, 48)),
        (
            "letter.docx",
            docx(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            (None, None),
        ),
        ("blob.bin", bytes(range(256)) * 4, "application/octet-stream", (None, None)),
    ],
)
async def test_multipart_round_trip(
    client: httpx.AsyncClient,
    tenant: Tenant,
    name: str,
    content: bytes,
    kind: str,
    size: tuple[int | None, int | None],
) -> None:
    response = await upload(client, tenant, content, name)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) >= {"id", "name", "type", "scope", "metadata", "uri"}
    assert body["name"] == name and body["scope"] == "restricted"
    assert body["type"] == kind
    assert body["metadata"]["size"] == len(content)
    assert (body["metadata"]["width"], body["metadata"]["height"]) == size
    assert body["metadata"]["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["uri"].endswith(f"/v1/attachments/{body['id']}")

    raw = await fetch(client, tenant, body["id"])
    assert raw.status_code == 200
    assert raw.content == content
    assert raw.headers["content-type"].startswith(body["type"])
    assert raw.headers["content-length"] == str(len(content))
    assert raw.headers["etag"] == f'"{body["metadata"]["sha256"]}"'
    assert name in raw.headers["content-disposition"]

    as_json = await client.get(
        f"/v1/attachments/{body['id']}", headers={**tenant.headers, "Accept": "application/json"}
    )
    document = as_json.json()
    assert base64.b64decode(document["data"]) == content
    assert {k: v for k, v in document.items() if k != "data"} == body


async def test_large_files_are_not_sent_as_json(
    client: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    attachment_id = (await upload(client, tenant, b"x" * 2000, "big.bin")).json()["id"]
    monkeypatch.setattr(service, "JSON_DATA_LIMIT", 1000)
    as_json = await client.get(
        f"/v1/attachments/{attachment_id}", headers={**tenant.headers, "Accept": "application/json"}
    )
    assert_error(as_json, 413, "Accept: application/octet-stream")
    assert (await fetch(client, tenant, attachment_id)).content == b"x" * 2000


async def test_json_upload_and_declared_type(client: httpx.AsyncClient, tenant: Tenant) -> None:
    content = png(10, 20)
    response = await client.post(
        "/v1/attachments",
        json={
            "name": "dot.png",
            "data": base64.b64encode(content).decode(),
            "type": "application/pdf",
            "scope": "public",
        },
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["type"] == "image/png"  # from the content, not from the claim
    assert body["metadata"]["declared_type"] == "application/pdf"  # the claim is noted
    assert body["scope"] == "public"
    assert (body["metadata"]["width"], body["metadata"]["height"]) == (10, 20)
    data_url = "data:image/png;base64," + base64.b64encode(content).decode()
    again = await client.post(
        "/v1/attachments", json={"name": "x.png", "data": data_url}, headers=tenant.headers
    )
    assert again.status_code == 201 and again.json()["metadata"]["declared_type"] is None
    assert again.json()["metadata"]["sha256"] == body["metadata"]["sha256"]


async def test_ranges_and_validators(client: httpx.AsyncClient, tenant: Tenant) -> None:
    content = bytes(range(256)) * 40  # 10,240 bytes
    attachment_id = (await upload(client, tenant, content, "data.bin")).json()["id"]
    first = await fetch(client, tenant, attachment_id, Range="bytes=0-99")
    assert first.status_code == 206 and first.content == content[:100]
    assert first.headers["content-range"] == "bytes 0-99/10240"
    assert first.headers["content-length"] == "100"
    tail = await fetch(client, tenant, attachment_id, Range="bytes=-10")
    assert tail.status_code == 206 and tail.content == content[-10:]
    rest = await fetch(client, tenant, attachment_id, Range="bytes=10000-")
    assert rest.content == content[10000:]
    beyond_end = await fetch(client, tenant, attachment_id, Range="bytes=10200-99999")
    assert beyond_end.status_code == 206 and beyond_end.content == content[10200:]
    unsatisfiable = await fetch(client, tenant, attachment_id, Range="bytes=20000-")
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == "bytes */10240"
    ignored = await fetch(client, tenant, attachment_id, Range="bytes=0-1,5-6")
    assert ignored.status_code == 200 and ignored.content == content
    etag = first.headers["etag"]
    assert (
        await fetch(client, tenant, attachment_id, **{"If-None-Match": etag})
    ).status_code == 304
    stale = await fetch(client, tenant, attachment_id, Range="bytes=0-9", **{"If-Range": '"x"'})
    assert stale.status_code == 200 and stale.content == content


async def test_unusual_names_download_safely(client: httpx.AsyncClient, tenant: Tenant) -> None:
    # The name as a form field: clients percent-encode quotes in a part's filename.
    named = await upload(client, tenant, b"hi", "x.txt", name='facture "été"; 2024.txt')
    attachment_id = named.json()["id"]
    disposition = (await fetch(client, tenant, attachment_id)).headers["content-disposition"]
    assert disposition == (
        'attachment; filename="facture __t___ 2024.txt"; '
        "filename*=UTF-8''facture%20%22%C3%A9t%C3%A9%22%3B%202024.txt"
    )


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"name": "a.txt", "data": "not base64!"}, 400, "not valid base64"),
        ({"name": "a.txt", "data": ""}, 400, "empty"),
        ({"name": "../etc/passwd", "data": "aGk="}, 400, "path separator"),
        ({"name": "a\\b.txt", "data": "aGk="}, 400, "path separator"),
        ({"name": "a\nb.txt", "data": "aGk="}, 400, "control character"),
        ({"name": "  ", "data": "aGk="}, 400, "needs a name"),
        ({"name": "a.txt", "data": "aGk=", "scope": "secret"}, 400, "scope"),
        ({"name": "a.txt"}, 400, "data"),
        ({"name": "a.txt", "data": "aGk=", "colour": "red"}, 400, "colour"),
    ],
)
async def test_bad_json_uploads(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], status: int, fragment: str
) -> None:
    response = await client.post("/v1/attachments", json=body, headers=tenant.headers)
    assert_error(response, status, fragment)


async def test_bad_multipart_uploads(client: httpx.AsyncClient, tenant: Tenant) -> None:
    assert_error(await upload(client, tenant, b"", "empty.txt"), 400, "empty")
    assert_error(await upload(client, tenant, b"x", "a/b.txt"), 400, "path separator")
    no_file = await client.post(
        "/v1/attachments", data={"name": "x"}, files={"other": ("a", b"1")}, headers=tenant.headers
    )
    assert_error(no_file, 400, "part named 'file'")
    two = await client.post(
        "/v1/attachments",
        files=[("file", ("a", b"1")), ("file", ("b", b"2"))],
        headers=tenant.headers,
    )
    assert_error(two, 400, "one file per upload")
    no_boundary = await client.post(
        "/v1/attachments",
        content=b"x",
        headers={**tenant.headers, "Content-Type": "multipart/form-data"},
    )
    assert_error(no_boundary, 400, "boundary")
    broken = await client.post(
        "/v1/attachments",
        content=b"garbage without boundaries",
        headers={**tenant.headers, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert_error(broken, 400)
    text = await client.post(
        "/v1/attachments",
        content=b"hello",
        headers={**tenant.headers, "Content-Type": "text/plain"},
    )
    assert_error(text, 415, "multipart/form-data")
    named = await upload(client, tenant, b"x", "ignored.txt", name="chosen.txt")
    assert named.json()["name"] == "chosen.txt"
    claimed = await upload(client, tenant, b"x", "c.txt", type="application/" + "x" * 400)
    assert claimed.status_code == 201 and len(claimed.json()["metadata"]["declared_type"]) == 255


async def test_workspace_access(
    client: httpx.AsyncClient, make_tenant: MakeTenant, grant: Grant
) -> None:
    owner, stranger = await make_tenant(), await make_tenant()
    attachment_id = (await upload(client, owner, b"secret", "s.txt")).json()["id"]
    assert_error(await fetch(client, stranger, attachment_id), 403, "does not grant")
    assert_error(await fetch(client, stranger, str(uuid.uuid4())), 404)
    assert_error(await client.get("/v1/attachments/nope", headers=owner.headers), 400)
    both = await grant(owner.slug, stranger.slug)
    files = {"file": ("a.txt", b"a")}
    ambiguous = await client.post("/v1/attachments", files=files, headers=both)
    assert_error(ambiguous, 400, "?company=")
    chosen = await client.post(f"/v1/attachments?company={stranger.id}", files=files, headers=both)
    assert chosen.status_code == 201
    foreign = await client.post(
        f"/v1/attachments?company={uuid.uuid4()}", files=files, headers=both
    )
    assert_error(foreign, 403)
    visible = await client.get(
        f"/v1/attachments/{chosen.json()['id']}",
        headers={**stranger.headers, "Accept": "application/json"},
    )
    assert visible.status_code == 200


def stored_files(settings: Settings) -> set[Path]:
    root = settings.data_dir / "files"
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


@pytest.fixture
async def small(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with small limits: 1,000-byte files, 2,000-byte JSON bodies."""
    app = create_app(
        settings.model_copy(update={"max_upload_bytes": 1000, "max_json_upload_bytes": 2000})
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://formcase.test") as c:
            yield c


async def test_limits_refuse_without_storing_anything(
    small: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    before = stored_files(settings)
    at_limit = await upload(small, tenant, b"x" * 1000, "ok.bin")
    assert at_limit.status_code == 201
    before |= stored_files(settings)
    over = await upload(small, tenant, b"y" * 1001, "big.bin")
    assert_error(over, 413, "1000 bytes")

    async def trickle() -> AsyncIterator[bytes]:  # no Content-Length: found while streaming
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="t"\r\n\r\n'
        for _ in range(100):
            yield b"z" * 100
        yield b"\r\n--b--\r\n"

    streamed = await small.post(
        "/v1/attachments",
        content=trickle(),
        headers={**tenant.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert_error(streamed, 413)
    declared = await small.post(
        "/v1/attachments",
        content=b"0" * 200_000,
        headers={**tenant.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert_error(declared, 413, "200000 bytes")
    big_json = await small.post(
        "/v1/attachments",
        json={"name": "j.bin", "data": base64.b64encode(b"q" * 1800).decode()},
        headers=tenant.headers,
    )
    assert_error(big_json, 413, "multipart/form-data")
    assert stored_files(settings) == before  # nothing of the refused uploads, not even tmp files


async def test_same_content_is_stored_once(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    content = uuid.uuid4().bytes * 10
    first = (await upload(client, tenant, content, "one.bin")).json()
    files = stored_files(settings)
    second = (await upload(client, tenant, content, "two.bin")).json()
    assert first["id"] != second["id"]
    assert stored_files(settings) == files
    assert (await fetch(client, tenant, second["id"])).content == content

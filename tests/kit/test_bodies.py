"""Request bodies are bounded (FORMCASE_MAX_BODY_BYTES, larger only where files travel),
multipart uploads keep few fields, and a refused body leaves nothing behind in memory."""

from __future__ import annotations

import base64
import gc
import uuid
from collections.abc import AsyncIterator

import httpx
from fastapi.exceptions import RequestValidationError

from tests.helpers import Tenant, assert_error

LIMIT = 1024**2  # FORMCASE_MAX_BODY_BYTES' default
JSON = {"Content-Type": "application/json"}
NO_LINK = f"/f/{uuid.uuid4().hex}/api"  # a fill link that does not exist


def over(size: int = LIMIT + 1) -> bytes:
    """Valid JSON of `size` bytes: refused for its size alone."""
    return b'{"data": {"x": "' + b"a" * (size - 19) + b'"}}'


async def test_a_json_body_over_the_limit_is_refused_saying_the_limit(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    assert len(over()) == LIMIT + 1
    for path, headers in (
        ("/v1/forms", tenant.headers),
        ("/v1/cases", tenant.headers),
        (f"{NO_LINK}/steps/one", {}),  # the fill API has no token: bounded all the same
    ):
        response = await client.post(path, content=over(), headers={**headers, **JSON})
        assert_error(response, 413, f"limit of {LIMIT} bytes", "FORMCASE_MAX_BODY_BYTES")
    # Just within the limit, the body is read and judged on what it says.
    within = await client.post("/v1/forms", content=over(LIMIT), headers={**tenant.headers, **JSON})
    assert_error(within, 400)
    assert (await client.get("/v1/forms", headers=tenant.headers)).status_code == 200


async def test_a_chunked_body_is_counted_as_it_arrives(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length
        nonlocal sent
        yield b'{"data": {"x": "'
        for _ in range(100):
            sent += 64 * 1024
            yield b"a" * 64 * 1024

    response = await client.post(f"{NO_LINK}/steps/one", content=chunks(), headers=JSON)
    assert_error(response, 413, f"limit of {LIMIT} bytes")
    assert sent < 2 * LIMIT  # refused once over, not after the 6.4 MB


async def test_a_stranger_is_refused_before_the_body_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/forms", content=over(), headers=JSON)
    assert_error(response, 401)


async def test_routes_where_files_travel_take_more(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    big = b"x" * (2 * LIMIT)
    uploaded = await client.post(
        "/v1/attachments", files={"file": ("big.bin", big)}, headers=tenant.headers
    )
    assert uploaded.status_code == 201, uploaded.text
    # Document intelligence takes its documents in base64 (FORMCASE_MAX_JSON_UPLOAD_BYTES):
    # a 2 MB body is read, and this one's data judged (not base64).
    documents = await client.post(
        "/v1/document-intelligence",
        json={
            "attachments": [{"data": "!" * 2 * LIMIT, "name": "a.pdf", "type": "pdf"}],
            "template": "invoice",
        },
        headers=tenant.headers,
    )
    assert_error(documents, 400, "not valid base64")
    # A drawn signature may be 3 MB of base64, no more.
    image = "data:image/png;base64," + base64.b64encode(b"p" * 2 * LIMIT).decode()
    signed = await client.post(f"{NO_LINK}/signatures/sig", json={"image": image})
    assert_error(signed, 404)
    image = "data:image/png;base64," + "A" * 4 * LIMIT
    too_big = await client.post(f"{NO_LINK}/signatures/sig", json={"image": image})
    assert_error(too_big, 413, "limit of 3149824 bytes")


def multipart(fields: int, header: int = 0) -> tuple[bytes, dict[str, str]]:
    parts = [
        f'--b\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nv\r\n' for i in range(fields)
    ]
    padding = f"X-Padding: {'p' * header}\r\n" if header else ""
    parts.append(
        f'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n{padding}'
        "\r\nhello\r\n--b--\r\n"
    )
    return "".join(parts).encode(), {"Content-Type": "multipart/form-data; boundary=b"}


async def test_a_multipart_upload_keeps_few_fields(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    body, headers = multipart(16)
    allowed = await client.post(
        "/v1/attachments", content=body, headers={**tenant.headers, **headers}
    )
    assert allowed.status_code == 201, allowed.text
    body, headers = multipart(50_000)  # 2.6 MB of tiny fields, kept in memory before
    refused = await client.post(
        "/v1/attachments", content=body, headers={**tenant.headers, **headers}
    )
    assert_error(refused, 400, "at most 16 fields", "FORMCASE_MAX_UPLOAD_FIELDS")
    body, headers = multipart(0, header=1024**2)
    long_header = await client.post(
        "/v1/attachments", content=body, headers={**tenant.headers, **headers}
    )
    assert_error(long_header, 400, "Maximum header size exceeded")  # python-multipart's own


async def test_a_refused_body_is_not_kept(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """The error of a body that is not JSON, or not the expected JSON, is let go as soon as it
    is answered: nothing keeps it (and the body) waiting for a full garbage collection."""
    gc.collect()
    gc.disable()
    try:
        broken = await client.post(f"{NO_LINK}/steps/one", content=b'{"data": "x', headers=JSON)
        wrong = await client.post(
            "/v1/forms", json={"flow": {"slug": ["x" * 100_000]}}, headers=tenant.headers
        )
        kept = [o for o in gc.get_objects() if isinstance(o, RequestValidationError)]
    finally:
        gc.enable()
    assert_error(broken, 400, "not valid JSON")
    assert_error(wrong, 400, "flow.slug")
    assert kept == []

"""POST /v1/document-intelligence and GET …/{id}: the job's life (queued, run by the worker in
its reading process, read back), the custom-fields path on a PDF made here, and every error
a caller can make."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import httpx
import pikepdf
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from tests.conftest import MakeTenant
from tests.helpers import Tenant, assert_error

URL = "/v1/document-intelligence"
FIELDS = [
    {"name": "Invoice number"},
    {"name": "Invoice date", "type": "date", "hint": "DD/MM/YYYY"},
    {"name": "Total", "type": "number"},
    {"name": "Customer reference", "key": "customer_ref"},
]


def invoice_pdf(pages: int = 1) -> bytes:
    """A text-layer PDF with labelled values, as a small supplier's software writes them."""
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    for number in range(pages):
        page.setFont("Helvetica-Bold", 16)
        page.drawString(60, 780, "ACME Supplies BV")
        page.setFont("Helvetica", 11)
        page.drawString(60, 720, "Invoice number: INV-2026-0042")
        page.drawString(60, 700, "Invoice date: 21/11/2026")
        page.drawString(60, 680, "Customer reference")
        page.drawString(60, 664, "PO 7781")
        page.drawString(360, 600, "Total:")
        page.drawString(420, 600, "1.234,56 EUR")
        page.drawString(60, 80, f"Page {number + 1}")
        page.showPage()
    page.save()
    return out.getvalue()


def as_data(
    content: bytes, name: str = "invoice.pdf", kind: str = "application/pdf"
) -> dict[str, str]:
    return {"data": base64.b64encode(content).decode(), "name": name, "type": kind}


async def until_done(client: httpx.AsyncClient, tenant: Tenant, job_id: str) -> dict[str, Any]:
    for _ in range(300):
        got = await client.get(f"{URL}/{job_id}", headers=tenant.headers)
        assert got.status_code == 200, got.text
        if got.json()["status"] in ("completed", "failed"):
            return dict(got.json())
        await asyncio.sleep(0.1)
    raise AssertionError("the job did not finish in 30 s")


async def test_custom_fields_found_by_their_labels(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await client.post(
        f"{URL}?wait=30",
        json={"attachments": [as_data(invoice_pdf())], "fields": FIELDS, "language": "en"},
        headers=tenant.headers,
    )
    assert created.status_code == 200, created.text
    job = created.json()
    assert created.headers["location"] == f"{URL}/{job['id']}"
    assert job["status"] == "completed" and job["error"] is None
    assert job["usage"]["pages"] == 1 and job["creator"]["id"]
    [attachment] = job["attachments"]
    assert attachment["name"] == "invoice.pdf" and attachment["type"] == "application/pdf"
    found = {field["key"]: field for field in job["results"]["fields"]}
    assert list(found) == ["invoice_number", "invoice_date", "total", "customer_ref"]
    assert found["invoice_number"]["value"] == "INV-2026-0042"
    assert found["invoice_date"]["value"] == "2026-11-21"
    assert found["total"]["value"] == "1234.56"
    assert found["customer_ref"]["value"] == "PO 7781"  # the line under its label
    for field in found.values():
        assert field["confidence"] in ("high", "medium") and field["page"] == 1
        x0, y0, x1, y1 = field["box"]
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    # the value is where the page shows it: the total is right of the middle, near the middle
    assert found["total"]["box"][0] > 0.5 and 0.2 < found["total"]["box"][1] < 0.4
    assert found["invoice_number"]["type"] == "text" and found["invoice_date"]["hint"]
    assert job["results"]["validation"] == {
        "is_valid": True,
        "is_blurry": False,
        "user_explanation": None,
    }
    again = await client.get(f"/v1/document_intelligence/{job['id']}", headers=tenant.headers)
    assert again.json() == job


async def test_a_job_is_queued_then_read_by_the_worker(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    uploaded = await client.post(
        "/v1/attachments",
        files={"file": ("invoice.pdf", invoice_pdf(), "application/pdf")},
        headers=tenant.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    created = await client.post(
        URL,
        json={
            "attachments": [{"id": uploaded.json()["id"]}],
            "fields": [{"name": "Missing label", "type": "date"}, {"name": "Invoice number"}],
        },
        headers=tenant.headers,
    )
    assert created.status_code == 202, created.text
    assert created.json()["status"] in ("pending", "processing")
    assert created.json()["results"] is None
    job = await until_done(client, tenant, created.json()["id"])
    assert job["status"] == "completed"
    missing, number = job["results"]["fields"]
    assert missing["key"] == "missing_label" and missing["value"] is None
    assert missing["confidence"] is None and missing["notes"]
    assert number["value"] == "INV-2026-0042"
    validation = job["results"]["validation"]
    assert validation["is_valid"] is False and "Missing label" in validation["user_explanation"]


def letter_pdf() -> bytes:
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    page.drawString(60, 780, "Dear customer, please find our invoice attached.")
    page.showPage()
    page.save()
    return out.getvalue()


async def test_pages_are_numbered_across_the_attachments(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await client.post(
        f"{URL}?wait=30",
        json={
            "attachments": [as_data(letter_pdf(), "letter.pdf"), as_data(invoice_pdf())],
            "fields": [{"name": "Invoice number"}],
        },
        headers=tenant.headers,
    )
    assert created.status_code == 200, created.text
    [number] = created.json()["results"]["fields"]
    assert number["value"] == "INV-2026-0042" and number["page"] == 2
    assert created.json()["usage"]["pages"] == 2


def encrypted_pdf() -> bytes:
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(invoice_pdf())) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(owner="o", user="secret"))
    return out.getvalue()


async def test_errors_name_what_is_wrong(
    client: httpx.AsyncClient, tenant: Tenant, make_tenant: MakeTenant
) -> None:
    pdf = as_data(invoice_pdf())
    stranger = await make_tenant(template_files=[])
    theirs = await client.post(
        "/v1/attachments",
        files={"file": ("theirs.pdf", invoice_pdf(), "application/pdf")},
        headers=stranger.headers,
    )
    fields = [{"name": "Total"}]
    cases: list[tuple[dict[str, Any], int, tuple[str, ...]]] = [
        ({"fields": fields}, 400, ("Missing required field 'attachments'",)),
        ({"attachments": [], "fields": fields}, 400, ("'attachments' is empty",)),
        ({"attachments": [pdf]}, 400, ("exactly one of 'fields'", "'template'")),
        ({"attachments": [pdf], "fields": fields, "template": "invoice"}, 400, ("exactly one",)),
        ({"attachments": [pdf], "template": "passport"}, 400, ("'passport' is not a template",)),
        ({"attachments": [pdf], "template": {"id": "nope"}}, 400, ("'nope'",)),
        ({"attachments": [pdf], "fields": []}, 400, ("'fields' is empty",)),
        (
            {"attachments": [pdf], "fields": [{"name": "A b"}, {"name": "a-b"}]},
            400,
            ("two fields have the key 'a_b'",),
        ),
        (
            {"attachments": [pdf], "fields": [{"name": "x", "key": "Not Snake"}]},
            400,
            ("fields[0].key", "snake_case"),
        ),
        (
            {"attachments": [pdf], "fields": [{"name": "x", "type": "colour"}]},
            400,
            ("fields",),
        ),
        (
            {"attachments": [{"data": "%%%", "name": "a.pdf", "type": "application/pdf"}]}
            | {"fields": fields},
            400,
            ("attachments[0].data' is not valid base64",),
        ),
        (
            {"attachments": [{"data": pdf["data"]}], "fields": fields},
            400,
            ("needs its name and type",),
        ),
        (
            {"attachments": [{"id": theirs.json()["id"]}], "fields": fields},
            400,
            ("attachments[0].id", "no attachment"),
        ),
        (
            {"attachments": [pdf, {"id": theirs.json()["id"], **pdf}], "fields": fields},
            400,
            ("attachments[1]", "either an id or data"),
        ),
        (
            {"attachments": [as_data(b"just some words", "notes.txt", "text/plain")]}
            | {"fields": fields},
            415,
            ("'notes.txt' is text/plain", "PDF"),
        ),
        (
            {"attachments": [as_data(encrypted_pdf())], "fields": fields},
            400,
            ("attachments[0]", "encrypted"),
        ),
        (
            {"attachments": [as_data(invoice_pdf(pages=21))], "fields": fields},
            400,
            ("21 pages", "20"),
        ),
        (
            {"attachments": [as_data(invoice_pdf(pages=12)), as_data(invoice_pdf(pages=12))]}
            | {"fields": fields},
            400,
            ("more than 20 pages in all",),
        ),
    ]
    for body, status, fragments in cases:
        response = await client.post(URL, json=body, headers=tenant.headers)
        assert_error(response, status, *fragments)
    big = invoice_pdf() + b"%" + b"0" * (50 * 1024**2)  # a comment after %%EOF: still a PDF
    # In base64 it is over the JSON body limit (FORMCASE_MAX_JSON_UPLOAD_BYTES, 64 MB) …
    assert_error(
        await client.post(
            URL, json={"attachments": [as_data(big)], "fields": fields}, headers=tenant.headers
        ),
        413,
        "limit of 67108864 bytes (FORMCASE_MAX_JSON_UPLOAD_BYTES)",
    )
    # … and uploaded first, over the largest file document intelligence reads.
    uploaded = await client.post(
        "/v1/attachments", files={"file": ("big.pdf", big)}, headers=tenant.headers
    )
    assert_error(
        await client.post(
            URL,
            json={"attachments": [{"id": uploaded.json()["id"]}], "fields": fields},
            headers=tenant.headers,
        ),
        413,
        "attachments[0]",
        "up to 52428800 bytes",
    )
    assert_error(await client.post(f"{URL}?wait=31", json={}, headers=tenant.headers), 400, "wait")
    # nothing was stored for the refused requests
    listed = await client.get("/v1/attachments", headers=tenant.headers)
    assert listed.status_code in (200, 400, 404, 405) and "invoice.pdf" not in listed.text

    unknown = "00000000-0000-4000-8000-000000000000"
    assert_error(await client.get(f"{URL}/{unknown}", headers=tenant.headers), 404, unknown)
    mine = await client.post(
        URL, json={"attachments": [pdf], "fields": fields}, headers=tenant.headers
    )
    assert mine.status_code == 202, mine.text
    other = await client.get(f"{URL}/{mine.json()['id']}", headers=stranger.headers)
    assert_error(other, 403, "workspace this token does not grant")

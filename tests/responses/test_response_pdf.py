"""GET /v1/responses/{id} with Accept: application/pdf: the response as a PDF sealed with
the workspace's certificate, read back with pypdf and checked with pyHanko."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import pytest
from PIL import Image, ImageDraw
from pypdf import PdfReader
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.config import Settings
from formcase.pdf.signing import SignatureCheck, verify
from formcase.responses.endpoints import wants_pdf
from formcase.responses.models import Response
from formcase.workspaces import certificates
from tests.conftest import MakeTenant
from tests.fill.test_fill_api import BROWSER, SURVEY, new_form
from tests.helpers import Tenant, assert_error, fill_api

SIGNED = Path(__file__).with_name("signed.yaml")
STEPS = Path(__file__).with_name("steps.yaml")
PDF = {"Accept": "application/pdf"}
Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def surveyed(make_tenant: MakeTenant) -> Tenant:
    return await make_tenant(template_files=[SURVEY])


def text_of(pdf: bytes) -> str:
    """The PDF's text as pypdf reads it, whitespace collapsed."""
    pages = PdfReader(io.BytesIO(pdf)).pages
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in pages))


def poppler_text_of(pdf: bytes) -> str:
    """The PDF's text as poppler reads it (pypdf garbles a subset font that has glyphs
    beyond Latin ones), whitespace collapsed."""
    done = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True)
    return re.sub(r"\s+", " ", done.stdout.decode())


async def checks(maker: Maker, settings: Settings, tenant: Tenant, pdf: bytes) -> list[Any]:
    """The PDF's signatures, checked against the workspace's certificate."""
    async with maker() as session:
        row = await certificates.certificate_of(session, tenant.id, settings)
        pem = row.certificate_pem
    found: list[SignatureCheck] = await anyio.to_thread.run_sync(verify, pdf, pem)
    return found


async def get_pdf(client: httpx.AsyncClient, tenant: Tenant, response_id: str) -> bytes:
    got = await client.get(f"/v1/responses/{response_id}", headers={**tenant.headers, **PDF})
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"] == f'inline; filename="response-{response_id}.pdf"'
    assert got.content.startswith(b"%PDF-")
    return got.content


def drawn() -> str:
    picture = Image.new("RGBA", (300, 100), (0, 0, 0, 0))
    ImageDraw.Draw(picture).line([(10, 80), (100, 15), (150, 90), (290, 20)], "navy", 4)
    output = io.BytesIO()
    picture.save(output, "PNG")
    return "data:image/png;base64," + base64.b64encode(output.getvalue()).decode()


async def test_a_completed_response_as_a_sealed_pdf(
    client: httpx.AsyncClient, surveyed: Tenant, sessionmaker: Maker, settings: Settings
) -> None:
    form = await new_form(
        client,
        surveyed,
        user={"email": "ann@x.example", "locale": "fr", "given_name": "Ann", "family_name": "B"},
    )
    state = (await client.post(fill_api(form, "state"), headers=BROWSER)).json()
    response_id = state["response"]["id"]
    steps = [
        ("about", {"name": "Ann Bé", "kind": "company"}),
        ("company", {"company_name": "Acme SA"}),
        ("about", {"kind": "person", "age": 41}),  # the company step goes hidden again
        ("end", {"agree": True}),
    ]
    for step, data in steps:
        saved = await client.post(
            fill_api(form, f"steps/{step}"), json={"data": data}, headers=BROWSER
        )
        assert saved.status_code == 200, saved.text
    assert (await client.post(fill_api(form, "submit"), headers=BROWSER)).status_code == 200

    pdf = await get_pdf(client, surveyed, response_id)
    text = text_of(pdf)
    expected = [
        f"Workspace {surveyed.slug}",
        "Survey",
        f"Formulaire {form['id']}",
        f"Réponse {response_id}",
        "Statut Terminée",
        "Ann B <ann@x.example>",
        "Réponses",
        "À propos de vous",  # step titles in the response's locale
        "Name Ann Bé",
        "Kind Person",  # the option's label
        "Age 41",
        "Dernière étape",
        "I agree Oui",
        "Comment sans réponse",
        "Fichiers Aucun fichier.",
        "Signatures Aucune signature.",
        "Journal d'audit",
        "ouverte",
        "enregistrée",
        "terminée",
        "Mozilla/5.0 (test)",
        "about",
    ]
    for fragment in expected:
        assert fragment in text, (fragment, text)
    assert "Acme SA" not in text and "Entreprise" not in text  # the hidden step
    assert text.count("enregistrée") == 4  # one line per save

    (check,) = await checks(sessionmaker, settings, surveyed, pdf)
    assert check.field_name == "formcase-response"
    assert check.valid and check.intact and check.whole_document
    assert f"Workspace {surveyed.slug}" in check.signer

    # JSON stays the default.
    for accept in (None, "*/*", "application/json", "application/json, application/pdf;q=0.5"):
        headers = surveyed.headers if accept is None else {**surveyed.headers, "Accept": accept}
        got = await client.get(f"/v1/responses/{response_id}", headers=headers)
        assert got.status_code == 200
        assert got.json()["data"]["id"] == response_id


async def test_a_response_in_progress(client: httpx.AsyncClient, surveyed: Tenant) -> None:
    form = await new_form(client, surveyed)
    response_id = (await client.post(fill_api(form, "state"))).json()["response"]["id"]
    await client.post(fill_api(form, "steps/about"), json={"data": {"name": "Bo"}})
    text = text_of(await get_pdf(client, surveyed, response_id))
    for fragment in ("Status In progress", "About you", "Name Bo", "Kind not answered"):
        assert fragment in text, (fragment, text)
    assert "Completed" not in text
    assert "I agree not answered" in text  # the last step, not reached yet


async def test_odd_answers_never_break_the_pdf(
    client: httpx.AsyncClient, surveyed: Tenant, sessionmaker: Maker
) -> None:
    form = await new_form(client, surveyed)
    response_id = (await client.post(fill_api(form, "state"))).json()["response"]["id"]
    long_text = "Zoë « ünïcödé » 中文 ✓ " + "word " * 3000 + "x" * 3000
    odd = {
        "name": long_text,
        "kind": "robot",  # no such option
        "age": {"nested": [1, 2]},
        "agree": "maybe",
        "comment": "</td></tr><script>alert(1)</script> & <b>bold</b>\nsecond line",
        "company_name": "Hidden Inc",  # its step is not shown
        "ghost": "not in the template",
    }
    async with sessionmaker() as session:
        await session.execute(
            update(Response).where(Response.id == uuid.UUID(response_id)).values(data=odd)
        )
        await session.commit()
    text = poppler_text_of(await get_pdf(client, surveyed, response_id))
    assert "Zoë « ünïcödé » 中文 ✓ word word" in text and "robot" in text and "maybe" in text
    assert "<script>alert(1)</script> & <b>bold</b>" in text  # shown as text, not markup
    assert "Hidden Inc" not in text and "not in the template" not in text


async def test_files_and_signatures_in_the_pdf(
    client: httpx.AsyncClient, make_tenant: MakeTenant, sessionmaker: Maker, settings: Settings
) -> None:
    tenant = await make_tenant(template_files=[SIGNED])
    form = await new_form(
        client,
        tenant,
        flow={"slug": "signed"},
        user={"email": "sam@x.example", "given_name": "Sam", "family_name": "Lee", "locale": "nl"},
    )
    response_id = (await client.post(fill_api(form, "state"), headers=BROWSER)).json()["response"][
        "id"
    ]
    content = b"a photo, as far as this test cares"
    uploaded = await client.post(
        fill_api(form, "files/photo"), files={"file": ("holiday.txt", content)}
    )
    assert uploaded.status_code == 201, uploaded.text
    data = {"name": "Sam", "colours": ["blue", "red"]}
    await client.post(fill_api(form, "steps/papers"), json={"data": data})
    signed = await client.post(fill_api(form, "signatures/consent"), json={"image": drawn()})
    assert signed.status_code in (200, 201), signed.text
    assert (await client.post(fill_api(form, "submit"), headers=BROWSER)).status_code == 200

    pdf = await get_pdf(client, tenant, response_id)
    text = text_of(pdf)
    for fragment in (
        "Naam Sam",
        "Kleuren",
        "Blauw",
        "Rood",
        "Foto holiday.txt",
        "Bestanden",
        "Handtekeningen",
        "Toestemming",
        "Sam Lee <sam@x.example>",
        "Audittrail",
        "ondertekend",
    ):
        assert fragment in text, (fragment, text)
    assert hashlib.sha256(content).hexdigest() in text.replace(" ", "")  # wrapped in its cell
    assert "Lees dit eerst" not in text  # paragraphs are not questions
    # The drawn signature is in the PDF as an image (next to its question and in the list).
    images = sum(len(page.images) for page in PdfReader(io.BytesIO(pdf)).pages)
    assert images >= 2
    (check,) = await checks(sessionmaker, settings, tenant, pdf)
    assert check.valid and check.whole_document


async def test_pdf_access(
    client: httpx.AsyncClient, surveyed: Tenant, make_tenant: MakeTenant
) -> None:
    form = await new_form(client, surveyed)
    response_id = (await client.post(fill_api(form, "state"))).json()["response"]["id"]
    stranger = await make_tenant()
    denied = await client.get(f"/v1/responses/{response_id}", headers={**stranger.headers, **PDF})
    assert_error(denied, 403, "does not grant")
    unknown = f"/v1/responses/{uuid.uuid4()}"
    assert_error(await client.get(unknown, headers={**surveyed.headers, **PDF}), 404)
    assert_error(await client.get(f"/v1/responses/{response_id}", headers=PDF), 401)


def test_which_accept_headers_ask_for_the_pdf() -> None:
    assert wants_pdf("application/pdf")
    assert wants_pdf("application/pdf, */*")
    assert wants_pdf("application/json;q=0.5, application/pdf")
    assert wants_pdf("APPLICATION/PDF; q=0.9")
    assert not wants_pdf("")
    assert not wants_pdf("*/*")
    assert not wants_pdf("application/json")
    assert not wants_pdf("application/json, application/pdf;q=0.8")
    assert not wants_pdf("application/pdf;q=0")
    assert not wants_pdf("application/pdf;q=oops")


def audit_trail(pdf: bytes) -> list[tuple[str, str]]:
    """The audit trail's (event, step) rows, read by column from poppler's layout."""
    done = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    )
    lines = done.stdout.decode().splitlines()
    header = next(line for line in lines if "Time (UTC)" in line and "Step" in line)
    event, step, ip = (header.index(name) for name in ("Event", "Step", "IP address"))
    rows = [line for line in lines[lines.index(header) :] if re.match(r"\d{4}-\d\d-\d\d ", line)]
    # The note under the table ends with a date too: a row is one with an event.
    return [
        (row[event:step].strip(), row[step:ip].strip()) for row in rows if row[event:step].strip()
    ]


async def test_the_audit_trail_names_the_step_of_each_file_and_signature(
    client: httpx.AsyncClient, make_tenant: MakeTenant
) -> None:
    tenant = await make_tenant(template_files=[STEPS])
    form = await new_form(client, tenant, flow={"slug": "steps"})
    api = fill_api
    response_id = (await client.post(api(form, "state"))).json()["response"]["id"]
    await client.post(api(form, "steps/papers"), json={"data": {"name": "Jo"}})
    await client.post(api(form, "steps/details"), json={"data": {"city": "Gent"}})
    # Back to the first step, whose file and signature come after the last step was saved.
    photo = await client.post(api(form, "files/photo"), files={"file": ("a.txt", b"hi")})
    assert photo.status_code == 201, photo.text
    signed = await client.post(api(form, "signatures/consent"), json={"image": drawn()})
    assert signed.status_code == 201, signed.text
    removed = await client.delete(api(form, f"files/photo/{photo.json()['id']}"))
    assert removed.status_code == 200, removed.text
    assert (await client.post(api(form, "submit"))).status_code == 200

    assert audit_trail(await get_pdf(client, tenant, response_id)) == [
        ("opened", ""),
        ("saved", "papers"),
        ("saved", "details"),
        ("file uploaded", "papers"),
        ("signed", "papers"),
        ("file removed", "papers"),
        ("completed", "details"),  # where the contact was when they sent it
    ]

"""Signatures drawn on the fill page: what the contact signs, what is stored, what the API
gives back, and every refusal."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path
from typing import Any

import httpx
import pikepdf
import pytest
from PIL import Image, ImageDraw
from pyhanko.sign.fields import MDPPerm
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.pdf.material import SigningMaterial
from formcase.pdf.signing import verify
from formcase.templates import service as templates
from formcase.workspaces.models import WorkspaceCertificate
from tests.attachments.samples import pdf
from tests.conftest import MakeTenant
from tests.helpers import Tenant, assert_error, fill_api
from tests.pdf.others import (
    pdfsig_report,
    pyhanko_verdicts,
    root_pem,
    supplier_material,
    supplier_signs,
    with_empty_field,
)

SIGNING = Path(__file__).with_name("signing.yaml")


def drawn(width: int = 300, height: int = 100) -> str:
    """A signature as the page's canvas sends it: strokes on a transparent PNG."""
    picture = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    pen = ImageDraw.Draw(picture)
    pen.line(
        [(10, height - 20), (width // 3, 15), (width // 2, height - 10), (width - 10, 20)],
        fill=(20, 20, 80, 255),
        width=4,
    )
    output = io.BytesIO()
    picture.save(output, "PNG")
    return "data:image/png;base64," + base64.b64encode(output.getvalue()).decode()


def flat_png(colour: tuple[int, int, int, int]) -> str:
    output = io.BytesIO()
    Image.new("RGBA", (200, 80), colour).save(output, "PNG")
    return "data:image/png;base64," + base64.b64encode(output.getvalue()).decode()


@pytest.fixture
async def signer(make_tenant: MakeTenant) -> Tenant:
    return await make_tenant(template_files=[SIGNING])


async def new_form(client: httpx.AsyncClient, tenant: Tenant, slug: str = "signing") -> Any:
    created = await client.post(
        "/v1/forms",
        json={
            "flow": {"slug": slug},
            "user": {"email": "sam@x.example", "given_name": "Sam", "family_name": "Lee"},
        },
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    return created.json()


async def certificate_of(sessionmaker: async_sessionmaker[AsyncSession], tenant: Tenant) -> str:
    async with sessionmaker() as session:
        row = (
            await session.execute(
                select(WorkspaceCertificate).where(WorkspaceCertificate.workspace_id == tenant.id)
            )
        ).scalar_one()
        return row.certificate_pem


async def signed_bytes(client: httpx.AsyncClient, tenant: Tenant, signature_id: str) -> bytes:
    got = await client.get(
        f"/v1/signatures/{signature_id}",
        headers={**tenant.headers, "Accept": "application/octet-stream"},
    )
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/octet-stream"
    return got.content


async def assert_sealed(content: bytes, certificate: str) -> None:
    # pyHanko's validator runs its own event loop: give it a thread.
    (check,) = await asyncio.to_thread(verify, content, certificate)
    assert check.intact and check.valid, check


async def test_a_drawn_signature_is_sealed_on_a_signature_sheet(
    client: httpx.AsyncClient,
    signer: Tenant,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    form = await new_form(client, signer)
    await client.post(fill_api(form, "state"), headers={"User-Agent": "Pen/1.0"})
    signed = await client.post(
        fill_api(form, "signatures/consent"),
        json={"image": drawn()},
        headers={"User-Agent": "Pen/1.0"},
    )
    assert signed.status_code == 201, signed.text
    signature = signed.json()
    assert {"id", "created_at", "updated_at", "name", "key", "status", "items", "method"} <= set(
        signature
    )
    assert {"merge", "cost", "locale", "signer", "sha256"} <= set(signature)
    assert signature["key"] == "consent" and signature["name"] == "Consent"
    assert signature["status"] == "completed" and signature["documents"] == []
    assert signature["signer"]["name"] == "Sam Lee"
    assert signature["signer"]["user-agent"] == "Pen/1.0"

    state = (await client.post(fill_api(form, "state"))).json()
    assert state["response"]["signatures"]["consent"]["id"] == signature["id"]
    assert state["response"]["data"]["consent"] == signature["id"]

    content = await signed_bytes(client, signer, signature["id"])
    assert content.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    assert "Sam Lee" in text and "Consent" in text
    await assert_sealed(content, await certificate_of(sessionmaker, signer))

    metadata = await client.get(f"/v1/signatures/{signature['id']}", headers=signer.headers)
    assert metadata.status_code == 200
    assert metadata.json()["sha256"] == signature["sha256"]
    as_pdf = await client.get(
        f"/v1/signatures/{signature['id']}", headers={**signer.headers, "Accept": "application/pdf"}
    )
    assert as_pdf.headers["content-type"] == "application/pdf" and as_pdf.content == content

    assert (await client.post(fill_api(form, "submit"))).status_code == 200
    fetched = (await client.get(f"/v1/forms/{form['id']}", headers=signer.headers)).json()
    assert fetched["responses"][0]["signatures"]["consent"]["id"] == signature["id"]
    assert_error(
        await client.post(fill_api(form, "signatures/consent"), json={"image": drawn()}),
        409,
        "completed",
    )


async def test_documents_are_stamped_and_sealed(
    client: httpx.AsyncClient,
    signer: Tenant,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    form = await new_form(client, signer)
    state = (await client.post(fill_api(form, "state"))).json()
    (document,) = state["template"]["documents"]["contract_signature"]
    assert document["name"] == "Your contract" and document["ready"] is False
    assert_error(await client.get(fill_api(form, "documents/contract_signature/1")), 409, "upload")
    assert_error(
        await client.post(fill_api(form, "signatures/contract_signature"), json={"image": drawn()}),
        409,
        "Your contract",
    )

    contract = pdf(842, 842, 842)
    uploaded = await client.post(
        fill_api(form, "files/contract"), files={"file": ("contract.pdf", contract)}
    )
    assert uploaded.status_code == 201, uploaded.text
    state = (await client.post(fill_api(form, "state"))).json()
    assert state["template"]["documents"]["contract_signature"][0]["ready"] is True
    shown = await client.get(fill_api(form, "documents/contract_signature/1"))
    assert shown.status_code == 200 and shown.content == contract
    assert shown.headers["content-disposition"].startswith("inline")
    assert_error(await client.get(fill_api(form, "documents/contract_signature/2")), 404)

    signed = await client.post(
        fill_api(form, "signatures/contract_signature"), json={"image": drawn()}
    )
    assert signed.status_code == 201, signed.text
    signature = signed.json()
    assert signature["items"] == 1
    assert signature["documents"][0]["name"] == "Your contract"
    content = await signed_bytes(client, signer, signature["id"])
    with pikepdf.open(io.BytesIO(content)) as result:
        assert len(result.pages) == 3
        # The drawn signature is an image on page 1, where the template placed it.
        first = result.pages[0]
        assert any(xobject.get("/Subtype") == "/Image" for xobject in _xobjects(first))
        assert not any(
            xobject.get("/Subtype") == "/Image" for xobject in _xobjects(result.pages[1])
        )
    await assert_sealed(content, await certificate_of(sessionmaker, signer))


def _xobjects(page: pikepdf.Page) -> list[pikepdf.Object]:
    """Every XObject a page draws, in its content or as an annotation's appearance (the
    drawn signature is the seal's appearance), forms opened up."""
    found: list[pikepdf.Object] = []
    pending = [page.obj.get("/Resources", pikepdf.Dictionary())]
    for annotation in page.obj.get("/Annots", pikepdf.Array()):
        appearance = annotation.get("/AP", pikepdf.Dictionary()).get("/N")
        if isinstance(appearance, pikepdf.Stream):
            found.append(appearance)
            pending.append(appearance.get("/Resources", pikepdf.Dictionary()))
    while pending:
        resources = pending.pop()
        for _, xobject in resources.get("/XObject", pikepdf.Dictionary()).items():
            found.append(xobject)
            if xobject.get("/Subtype") == "/Form" and "/Resources" in xobject:
                pending.append(xobject["/Resources"])
    return found


async def test_a_workspace_document_and_signing_again(
    client: httpx.AsyncClient,
    make_tenant: MakeTenant,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    owner = await make_tenant(template_files=[])
    terms = await client.post(
        "/v1/attachments", files={"file": ("terms.pdf", pdf(600, 600))}, headers=owner.headers
    )
    assert terms.status_code == 201, terms.text
    template = tmp_path / "terms.yaml"
    template.write_text(
        "slug: terms\nname: Terms\nsteps:\n  - id: s\n    title: Terms\n    elements:\n"
        "      - key: terms_signature\n        type: signature\n        label: Terms\n"
        f"        documents: [{{attachment: {terms.json()['id']}}}]\n"
    )
    async with sessionmaker() as session:
        await templates.publish(session, owner.slug, templates.read_file(template))
    form = await new_form(client, owner, "terms")
    first = await client.post(fill_api(form, "signatures/terms_signature"), json={"image": drawn()})
    assert first.status_code == 201, first.text
    with pikepdf.open(io.BytesIO(await signed_bytes(client, owner, first.json()["id"]))) as result:
        # Two pages, and by default the signature is on the last one.
        assert len(result.pages) == 2
        assert any(x.get("/Subtype") == "/Image" for x in _xobjects(result.pages[1]))

    again = await client.post(
        fill_api(form, "signatures/terms_signature"), json={"image": drawn(400)}
    )
    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]
    assert_error(
        await client.get(f"/v1/signatures/{first.json()['id']}", headers=owner.headers), 404
    )
    state = (await client.post(fill_api(form, "state"))).json()
    assert state["response"]["data"]["terms_signature"] == again.json()["id"]


async def test_bad_signatures_are_refused_and_nothing_is_kept(
    client: httpx.AsyncClient, signer: Tenant
) -> None:
    form = await new_form(client, signer)
    png_bytes = base64.b64decode(drawn().split(",", 1)[1])
    jpeg = io.BytesIO()
    Image.new("RGB", (100, 50), "black").save(jpeg, "JPEG")
    for image, message in (
        ("hello", "PNG data URL"),
        ("data:image/png;base64,@@@", "base64"),
        ("data:image/png;base64," + base64.b64encode(b"not a png").decode(), "readable PNG"),
        ("data:image/png;base64," + base64.b64encode(jpeg.getvalue()).decode(), "not a PNG"),
        (flat_png((0, 0, 0, 0)), "empty"),
        (flat_png((255, 255, 255, 255)), "empty"),
        ("data:image/png;base64," + base64.b64encode(png_bytes[:60]).decode(), "readable PNG"),
    ):
        assert_error(
            await client.post(fill_api(form, "signatures/consent"), json={"image": image}),
            400,
            message,
        )
    assert_error(
        await client.post(fill_api(form, "signatures/name"), json={"image": drawn()}),
        400,
        "not a signature field",
    )
    assert_error(
        await client.post(fill_api(form, "signatures/ghost"), json={"image": drawn()}), 404
    )
    assert_error(await client.post(fill_api(form, "signatures/consent"), json={}), 400)
    state = (await client.post(fill_api(form, "state"))).json()
    assert state["response"]["signatures"] == {}
    assert "consent" not in state["response"]["data"]
    # Required and unsigned: submit says which.
    assert_error(await client.post(fill_api(form, "submit")), 400, "consent")


async def test_the_signature_of_a_hidden_element_goes_at_submit(
    client: httpx.AsyncClient, signer: Tenant
) -> None:
    form = await new_form(client, signer)
    await client.post(fill_api(form, "steps/papers"), json={"data": {"wants_mandate": True}})
    mandate = await client.post(fill_api(form, "signatures/mandate"), json={"image": drawn()})
    assert mandate.status_code == 201
    await client.post(fill_api(form, "signatures/consent"), json={"image": drawn()})
    await client.post(fill_api(form, "steps/papers"), json={"data": {"wants_mandate": False}})
    assert (await client.post(fill_api(form, "submit"))).status_code == 200
    fetched = (await client.get(f"/v1/forms/{form['id']}", headers=signer.headers)).json()
    (response,) = fetched["responses"]
    assert set(response["signatures"]) == {"consent"}
    assert "mandate" not in response["data"]
    assert_error(
        await client.get(f"/v1/signatures/{mandate.json()['id']}", headers=signer.headers), 404
    )


async def test_signature_access(
    client: httpx.AsyncClient, signer: Tenant, make_tenant: MakeTenant
) -> None:
    form = await new_form(client, signer)
    signature = (
        await client.post(fill_api(form, "signatures/consent"), json={"image": drawn()})
    ).json()
    stranger = await make_tenant(template_files=[])
    assert_error(
        await client.get(f"/v1/signatures/{signature['id']}", headers=stranger.headers), 403
    )
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_error(await client.get(f"/v1/signatures/{unknown}", headers=signer.headers), 404)
    assert_error(await client.get(f"/v1/signatures/{signature['id']}"), 401)


@pytest.fixture(scope="module")
def supplier() -> SigningMaterial:
    return supplier_material()


async def test_documents_the_supplier_signed_first_keep_its_signature(
    client: httpx.AsyncClient,
    make_tenant: MakeTenant,
    sessionmaker: async_sessionmaker[AsyncSession],
    supplier: SigningMaterial,
    tmp_path: Path,
) -> None:
    owner = await make_tenant(template_files=[])

    async def attach(name: str, content: bytes) -> str:
        stored = await client.post(
            "/v1/attachments", files={"file": (name, content)}, headers=owner.headers
        )
        assert stored.status_code == 201, stored.text
        return str(stored.json()["id"])

    async def signed_first(content: bytes, certify: MDPPerm | None = None) -> bytes:
        # pyHanko's signer runs its own event loop: give it a thread.
        return await asyncio.to_thread(supplier_signs, content, supplier, certify=certify)

    offered = await attach("offer.pdf", await signed_first(pdf(600, 600)))
    frozen = await attach("frozen.pdf", await signed_first(pdf(600), MDPPerm.NO_CHANGES))
    prepared = with_empty_field(pdf(600), "Client", 0, (300, 100, 500, 160))
    fillable = await attach("fillable.pdf", await signed_first(prepared, MDPPerm.FILL_FORMS))
    plain = await attach("annex.pdf", pdf(600))
    template = tmp_path / "offer.yaml"
    template.write_text(
        "slug: offer\nname: Offer\nsteps:\n  - id: s\n    title: Sign\n    elements:\n"
        "      - {key: offer, type: signature, label: Offer, documents: "
        f"[{{attachment: {offered}, place: {{page: 1, left: 300, top: 450, width: 200}}}}]}}\n"
        f"      - {{key: frozen, type: signature, documents: [{{attachment: {frozen}}}]}}\n"
        "      - {key: fillable, type: signature, documents: "
        f"[{{attachment: {fillable}, field: Client}}]}}\n"
        "      - {key: bundle, type: signature, documents: "
        f"[{{attachment: {plain}}}, {{attachment: {offered}}}]}}\n"
    )
    async with sessionmaker() as session:
        await templates.publish(session, owner.slug, templates.read_file(template))
    form = await new_form(client, owner, "offer")

    signed = await client.post(fill_api(form, "signatures/offer"), json={"image": drawn()})
    assert signed.status_code == 201, signed.text
    trusted = [root_pem(supplier), await certificate_of(sessionmaker, owner)]
    content = await signed_bytes(client, owner, signed.json()["id"])
    supplier_check, our_check = await asyncio.to_thread(pyhanko_verdicts, content, trusted)
    # pyHanko looks at what changed after each signature: the drawn signature came in a way
    # the supplier's signature allows.
    assert supplier_check.field == "Supplier" and "Supplier Contracts" in supplier_check.signer
    assert supplier_check.bottom_line, supplier_check.summary
    assert our_check.field == "formcase-offer" and our_check.bottom_line, our_check.summary
    report = await asyncio.to_thread(pdfsig_report, content, trusted, tmp_path)
    assert report.count("Signature is Valid.") == 2, report
    assert report.count("Certificate is Trusted.") == 2, report
    with pikepdf.open(io.BytesIO(content)) as result:
        assert any(x.get("/Subtype") == "/Image" for x in _xobjects(result.pages[0]))

    # Certified against any change: refused, and nothing is kept.
    assert_error(
        await client.post(fill_api(form, "signatures/frozen"), json={"image": drawn()}),
        422,
        "no change allowed",
    )
    # Certified for form filling: signed in the field the supplier prepared.
    filled = await client.post(fill_api(form, "signatures/fillable"), json={"image": drawn()})
    assert filled.status_code == 201, filled.text
    content = await signed_bytes(client, owner, filled.json()["id"])
    supplier_check, our_check = await asyncio.to_thread(pyhanko_verdicts, content, trusted)
    assert supplier_check.bottom_line, supplier_check.summary
    assert our_check.field == "Client" and our_check.bottom_line, our_check.summary
    # A signed document cannot be merged with others without breaking its signature.
    assert_error(
        await client.post(fill_api(form, "signatures/bundle"), json={"image": drawn()}),
        422,
        "'offer.pdf' is signed already",
    )
    state = (await client.post(fill_api(form, "state"))).json()
    assert set(state["response"]["signatures"]) == {"offer", "fillable"}

"""The fill API behind a form's link: open, save steps, submit, decline — and every refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from formcase.forms.schemas import FormOut
from tests.attachments.samples import png
from tests.conftest import MakeTenant
from tests.helpers import Tenant, assert_error, fill_api

SURVEY = Path(__file__).with_name("survey.yaml")
BROWSER = {"User-Agent": "Mozilla/5.0 (test)", "Accept-Language": "fr-BE,fr;q=0.9"}


@pytest.fixture
async def surveyed(make_tenant: MakeTenant) -> Tenant:
    return await make_tenant(template_files=[SURVEY])


async def new_form(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/forms", json={"flow": {"slug": "survey"}, **body}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    form: dict[str, Any] = response.json()
    return form


async def test_open_save_submit(client: httpx.AsyncClient, surveyed: Tenant) -> None:
    form = await new_form(
        client, surveyed, data={"name": "Ann"}, user={"email": "ann@x.example", "locale": "fr"}
    )
    opened = await client.post(fill_api(form, "state"), headers=BROWSER)
    assert opened.status_code == 200, opened.text
    state = opened.json()
    assert state["response"]["data"] == {"name": "Ann"}  # the prefill, editable
    assert state["template"]["steps"][0]["title"] == "À propos de vous"  # user.locale
    assert state["response"]["visible_steps"] == ["about", "end"]
    again = (await client.post(fill_api(form, "state"))).json()
    assert again["response"]["id"] == state["response"]["id"]  # resumed, not a new one

    saved = await client.post(
        fill_api(form, "steps/about"), json={"data": {"name": "Ann B", "kind": "company"}}
    )
    assert saved.json()["response"]["visible_steps"] == ["about", "company", "end"]
    await client.post(fill_api(form, "steps/company"), json={"data": {"company_name": "Acme"}})
    # Back to a person: the company step is hidden again and its answer will be dropped.
    await client.post(fill_api(form, "steps/about"), json={"data": {"kind": "person", "age": 41}})
    await client.post(fill_api(form, "steps/end"), json={"data": {"agree": True}})
    submitted = await client.post(fill_api(form, "submit"), headers=BROWSER)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["completed_at"]

    fetched = (await client.get(f"/v1/forms/{form['id']}", headers=surveyed.headers)).json()
    assert fetched["status"] == "completed"
    assert FormOut.model_validate(fetched).model_dump(mode="json", by_alias=True) == fetched
    (response,) = fetched["responses"]
    assert response["data"] == {"name": "Ann B", "kind": "person", "age": 41, "agree": True}
    assert response["completed_at"] and response["declined_at"] is None
    assert response["user"]["user-agent"] == "Mozilla/5.0 (test)"
    assert response["user"]["accept-language"] == "fr-BE,fr;q=0.9"
    assert response["user"]["ip"] and response["user"]["locale"] == "fr"

    document = (
        await client.get(f"/v1/responses/{response['id']}", headers=surveyed.headers)
    ).json()
    attributes = document["data"]["attributes"]
    assert document["data"]["type"] == "responses"
    assert set(attributes) == {
        "$created_at",
        "$updated_at",
        "completed_at",
        "declined_at",
        "user",
        "data",
        "rating",
    }
    assert attributes["user"]["email"] == "ann@x.example"
    assert document["data"]["relationships"]["request"]["data"] == {
        "id": form["id"],
        "type": "requests",
    }
    assert document["included"][0]["id"] == form["id"]
    assert document["included"][0]["type"] == "requests"
    assert document["included"][0]["attributes"]["status"] == "completed"


async def test_a_completed_response_never_changes(
    client: httpx.AsyncClient, surveyed: Tenant
) -> None:
    form = await new_form(client, surveyed)
    await client.post(
        fill_api(form, "steps/about"), json={"data": {"name": "Bo", "kind": "person"}}
    )
    await client.post(fill_api(form, "steps/end"), json={"data": {"agree": True}})
    assert (await client.post(fill_api(form, "submit"))).status_code == 200
    before = (await client.get(f"/v1/forms/{form['id']}", headers=surveyed.headers)).json()
    for path, body in (
        ("steps/about", {"data": {"name": "Eve"}}),
        ("submit", None),
        ("decline", None),
        ("state", None),
    ):
        assert_error(await client.post(fill_api(form, path), json=body), 409, "completed")
    after = (await client.get(f"/v1/forms/{form['id']}", headers=surveyed.headers)).json()
    assert after == before


async def test_required_and_invalid_answers(client: httpx.AsyncClient, surveyed: Tenant) -> None:
    form = await new_form(client, surveyed)
    missing = assert_error(await client.post(fill_api(form, "submit")), 400, "name, kind, agree")
    assert [e["source"]["pointer"] for e in missing["errors"]] == [
        "/data/name",
        "/data/kind",
        "/data/agree",
    ]
    await client.post(
        fill_api(form, "steps/about"), json={"data": {"name": "Cy", "kind": "company"}}
    )
    assert_error(await client.post(fill_api(form, "submit")), 400, "company_name")
    invalid = assert_error(
        await client.post(fill_api(form, "steps/about"), json={"data": {"age": -3, "name": 5}}),
        400,
        "'age' must be at least 0",
    )
    # One error per field, pointing at it, for a front end to show next to the field.
    assert [(e["code"], e["source"]["pointer"]) for e in invalid["errors"]] == [
        ("invalid", "/data/age"),
        ("invalid", "/data/name"),
    ]
    assert_error(
        await client.post(fill_api(form, "steps/about"), json={"data": {"kind": "robot"}}),
        400,
        "'kind' must be one of person, company",
    )
    assert_error(
        await client.post(fill_api(form, "steps/about"), json={"data": {"colour": 1}}),
        400,
        "'colour' is not a field of step 'about'",
    )
    assert_error(
        await client.post(fill_api(form, "steps/nowhere"), json={"data": {}}),
        404,
        "no step 'nowhere'",
    )
    await client.post(fill_api(form, "steps/about"), json={"data": {"kind": "person"}})
    assert_error(
        await client.post(fill_api(form, "steps/company"), json={"data": {"company_name": "X"}}),
        400,
        "not shown",
    )
    assert_error(await client.post(fill_api(form, "steps/about"), json={"name": "flat"}), 400)


async def test_odd_clients_are_recorded_within_bounds(
    client: httpx.AsyncClient, surveyed: Tenant
) -> None:
    form = await new_form(client, surveyed)
    assert_error(await client.post(fill_api(form, "state?locale=klingon-please")), 400, "locale")
    noisy = {"User-Agent": "x" * 5000, "Accept-Language": "fr," * 500}
    opened = await client.post(fill_api(form, "state"), headers=noisy)
    assert opened.status_code == 200, opened.text
    fetched = (await client.get(f"/v1/forms/{form['id']}", headers=surveyed.headers)).json()
    user = fetched["responses"][0]["user"]
    assert len(user["user-agent"]) == 1000 and len(user["accept-language"]) == 200


async def test_decline(client: httpx.AsyncClient, surveyed: Tenant) -> None:
    form = await new_form(client, surveyed)
    declined = await client.post(fill_api(form, "decline"), json={"reason": "Not me"})
    assert declined.status_code == 200 and declined.json()["declined_at"]
    fetched = (await client.get(f"/v1/forms/{form['id']}", headers=surveyed.headers)).json()
    assert fetched["status"] == "declined"
    assert (
        fetched["responses"][0]["declined_at"] and fetched["responses"][0]["completed_at"] is None
    )
    assert_error(await client.post(fill_api(form, "submit")), 409, "declined")


async def test_forms_that_cannot_be_filled(client: httpx.AsyncClient, surveyed: Tenant) -> None:
    draft = await new_form(client, surveyed, draft=True)
    refused = assert_error(await client.post(fill_api(draft, "state")), 409, "not been sent")
    assert refused["errors"][0]["code"] == "draft"  # for a front end to say it its own way
    later = await new_form(client, surveyed, active_from="2099-01-01")
    assert_error(await client.post(fill_api(later, "state")), 409, "opens on 2099-01-01")
    expired = await new_form(client, surveyed, active_until="2000-01-01")
    assert_error(await client.post(fill_api(expired, "state")), 410, "expired on 2000-01-01")
    withdrawn = await new_form(client, surveyed)
    await client.patch(
        f"/v1/forms/{withdrawn['id']}", json={"archived": True}, headers=surveyed.headers
    )
    assert_error(await client.post(fill_api(withdrawn, "state")), 410, "withdrawn")
    assert_error(await client.post("/f/no-such-link/api/state"), 404, "no form at this link")


async def test_response_access(
    client: httpx.AsyncClient, surveyed: Tenant, make_tenant: MakeTenant
) -> None:
    form = await new_form(client, surveyed)
    response_id = (await client.post(fill_api(form, "state"))).json()["response"]["id"]
    stranger = await make_tenant()
    assert_error(await client.get(f"/v1/responses/{response_id}", headers=stranger.headers), 403)
    as_pdf = {"Accept": "application/pdf"}
    pdf = await client.get(f"/v1/responses/{response_id}", headers={**surveyed.headers, **as_pdf})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert_error(
        await client.get(f"/v1/responses/{response_id}", headers={**stranger.headers, **as_pdf}),
        403,
    )
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_error(await client.get(f"/v1/responses/{unknown}", headers=surveyed.headers), 404)


async def test_files_belong_to_the_response(
    client: httpx.AsyncClient, make_tenant: MakeTenant
) -> None:
    surveyed = await make_tenant(template_files=[Path(__file__).with_name("papers.yaml")])
    form = await new_form(client, surveyed, flow={"slug": "papers"})
    assert_error(await client.post(fill_api(form, "submit")), 400, "id_card")

    card = await client.post(
        fill_api(form, "files/id_card"), files={"file": ("card.png", png(20, 10))}
    )
    assert card.status_code == 201, card.text
    assert card.json()["scope"] == "restricted" and card.json()["type"] == "image/png"
    for content in (b"first", b"second"):
        extra = await client.post(
            fill_api(form, "files/extras"), files={"file": ("x.txt", content)}
        )
        assert extra.status_code == 201
    wrong = await client.post(fill_api(form, "files/id_card"), files={"file": ("a.txt", b"text")})
    assert_error(wrong, 415, "this field accepts image/*, application/pdf")
    too_big = b"\x89PNG\r\n\x1a\n" + bytes(6000)
    big = await client.post(fill_api(form, "files/id_card"), files={"file": ("b.png", too_big)})
    assert_error(big, 413, "5000 bytes")
    assert_error(
        await client.post(fill_api(form, "files/name"), files={"file": ("a", b"a")}),
        400,
        "not a file field",
    )
    assert_error(await client.post(fill_api(form, "files/ghost"), files={"file": ("a", b"a")}), 404)

    assert (await client.post(fill_api(form, "submit"))).status_code == 200
    fetched = (await client.get(f"/v1/forms/{form['id']}", headers=surveyed.headers)).json()
    (response,) = fetched["responses"]
    names = [file["name"] for file in response["attachments"]]
    assert names == ["card.png", "x.txt", "x.txt"]
    assert response["data"]["id_card"] == card.json()["id"]
    assert len(response["data"]["extras"]) == 2
    assert response["files"]["id_card"] == [card.json()["id"]]
    document = (
        await client.get(f"/v1/responses/{response['id']}", headers=surveyed.headers)
    ).json()
    assert [a["id"] for a in document["data"]["relationships"]["attachments"]["data"]] == [
        file["id"] for file in response["attachments"]
    ]
    assert document["included"][1]["attributes"]["name"] == "card.png"
    # The API's own token reads the contact's file.
    downloaded = await client.get(
        f"/v1/attachments/{card.json()['id']}", headers={**surveyed.headers, "Accept": "image/png"}
    )
    assert downloaded.content == png(20, 10)
    after = await client.post(fill_api(form, "files/extras"), files={"file": ("late.txt", b"x")})
    assert_error(after, 409, "completed")


async def test_uploaded_files_can_be_seen_and_taken_back(
    client: httpx.AsyncClient, make_tenant: MakeTenant
) -> None:
    papers = await make_tenant(template_files=[Path(__file__).with_name("papers.yaml")])
    form = await new_form(client, papers, flow={"slug": "papers"})
    other = await new_form(client, papers, flow={"slug": "papers"})
    first = (
        await client.post(fill_api(form, "files/extras"), files={"file": ("a.txt", b"one")})
    ).json()
    second = (
        await client.post(fill_api(form, "files/extras"), files={"file": ("b.txt", b"two")})
    ).json()
    seen = await client.get(fill_api(form, f"files/{first['id']}"))
    assert seen.status_code == 200 and seen.content == b"one"
    assert seen.headers["content-disposition"].startswith("inline")
    # Another form's link does not reach this form's files.
    assert_error(await client.get(fill_api(other, f"files/{first['id']}")), 404)
    assert_error(await client.delete(fill_api(other, f"files/extras/{first['id']}")), 404)
    assert_error(await client.delete(fill_api(form, f"files/id_card/{first['id']}")), 404)

    state = (await client.delete(fill_api(form, f"files/extras/{first['id']}"))).json()
    assert state["response"]["data"]["extras"] == [second["id"]]
    assert [f["name"] for f in state["response"]["files"]["extras"]] == ["b.txt"]
    assert_error(await client.get(fill_api(form, f"files/{first['id']}")), 404)
    fetched = (await client.get(f"/v1/forms/{form['id']}", headers=papers.headers)).json()
    assert [a["name"] for a in fetched["responses"][0]["attachments"]] == ["b.txt"]


async def test_cross_site_requests_are_refused(client: httpx.AsyncClient, surveyed: Tenant) -> None:
    form = await new_form(client, surveyed)
    evil = await client.post(fill_api(form, "state"), headers={"Origin": "https://evil.example"})
    assert_error(evil, 403, "evil.example")
    fetched = (await client.get(f"/v1/forms/{form['id']}", headers=surveyed.headers)).json()
    assert fetched["responses"] == []  # nothing was created for the other site
    for origin in ("http://formcase.test", "http://127.0.0.1:8000"):  # own host, public URL
        own = await client.post(fill_api(form, "state"), headers={"Origin": origin})
        assert own.status_code == 200, own.text
    assert (await client.post(fill_api(form, "state"))).status_code == 200  # not a browser


async def test_the_contact_chooses_the_language(
    client: httpx.AsyncClient, surveyed: Tenant
) -> None:
    form = await new_form(client, surveyed, user={"email": "jo@x.example", "locale": "fr"})
    english = (await client.post(fill_api(form, "state?locale=en"))).json()
    assert english["template"]["steps"][0]["title"] == "About you"
    assert english["user"]["locale"] == "en"
    # The choice sticks: the next visit without ?locale= is in English too.
    again = (await client.post(fill_api(form, "state"))).json()
    assert again["template"]["steps"][0]["title"] == "About you"
    # A language the template has no texts in is kept (the page's own texts exist in it);
    # the template's texts fall back to its default language.
    dutch = (await client.post(fill_api(form, "state?locale=nl"))).json()
    assert dutch["user"]["locale"] == "nl"
    assert dutch["template"]["steps"][0]["title"] == "About you"
    fetched = (await client.get(f"/v1/forms/{form['id']}", headers=surveyed.headers)).json()
    assert fetched["responses"][0]["user"]["locale"] == "nl"

"""GET /v1/responses/{id} as JSON: the seed's `data`, and every entry of `included` a
resource object (`type`, `id`, `attributes`), as its published model says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from formcase.attachments.schemas import AttachmentOut
from formcase.forms.schemas import FormOut
from formcase.responses.schemas import ResponseDocumentOut
from tests.conftest import MakeTenant
from tests.fill.test_fill_api import BROWSER, new_form
from tests.helpers import fill_api

STEPS = Path(__file__).with_name("steps.yaml")


def exact(model: type[FormOut] | type[AttachmentOut], value: dict[str, Any]) -> None:
    """`value` is exactly what the model describes: no key more, none less."""
    assert model.model_validate(value).model_dump(mode="json", by_alias=True) == value


async def test_included_entries_are_resource_objects(
    client: httpx.AsyncClient, make_tenant: MakeTenant
) -> None:
    tenant = await make_tenant(template_files=[STEPS])
    form = await new_form(client, tenant, flow={"slug": "steps"}, user={"email": "jo@x.example"})
    opened = await client.post(fill_api(form, "state"), headers=BROWSER)
    response_id = opened.json()["response"]["id"]
    photo = await client.post(fill_api(form, "files/photo"), files={"file": ("a.txt", b"hi")})
    assert photo.status_code == 201, photo.text

    got = await client.get(f"/v1/responses/{response_id}", headers=tenant.headers)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/json"
    document = got.json()
    # What the route publishes is what it answers, key for key.
    validated = ResponseDocumentOut.model_validate(document)
    assert validated.model_dump(mode="json", by_alias=True) == document

    # `data` keeps the seed's shape (seeds/03-get-response.txt).
    data = document["data"]
    assert set(data) == {"id", "type", "attributes", "relationships"}
    assert (data["id"], data["type"]) == (response_id, "responses")
    assert set(data["attributes"]) == {
        "$created_at",
        "$updated_at",
        "completed_at",
        "declined_at",
        "user",
        "data",
        "rating",
    }
    assert data["attributes"]["user"]["email"] == "jo@x.example"
    assert data["relationships"] == {
        "request": {"data": {"id": form["id"], "type": "requests"}},
        "attachments": {"data": [{"id": photo.json()["id"], "type": "attachments"}]},
    }

    # Every included entry is a resource object that its relationship's linkage finds.
    included = document["included"]
    for entry in included:
        assert set(entry) == {"type", "id", "attributes"}, entry
    form_entry, file_entry = included
    assert (form_entry["type"], form_entry["id"]) == ("requests", form["id"])
    fetched = (await client.get(f"/v1/forms/{form['id']}", headers=tenant.headers)).json()
    # The form as GET /v1/forms/{id} gives it (its notifications go on being sent meanwhile).
    assert {**form_entry["attributes"], "notifications": []} == {**fetched, "notifications": []}
    exact(FormOut, form_entry["attributes"])
    assert (file_entry["type"], file_entry["id"]) == ("attachments", photo.json()["id"])
    assert file_entry["attributes"] == photo.json()
    exact(AttachmentOut, file_entry["attributes"])


def test_the_model_is_published_with_the_pdf(app: Any) -> None:
    operation = app.openapi()["paths"]["/v1/responses/{response_id}"]["get"]
    content = operation["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ResponseDocumentOut"
    }
    assert content["application/pdf"]["schema"] == {"type": "string", "format": "binary"}
    schemas = app.openapi()["components"]["schemas"]
    form_entry = schemas["ResponseIncludedForm"]["properties"]
    assert form_entry["type"] == {"type": "string", "const": "requests", "title": "Type"}

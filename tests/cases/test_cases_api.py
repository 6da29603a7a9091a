"""POST /v1/cases, GET /v1/cases/{id}, and their errors."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import Tenant, assert_error

JO = {"email": "Jo@Client.example", "given_name": "Jo", "family_name": "Peeters"}


async def template_id(client: httpx.AsyncClient, tenant: Tenant) -> str:
    listed = await client.get("/v1/case_templates", headers=tenant.headers)
    found: str = listed.json()["data"][0]["id"]
    return found


async def new_case(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    body.setdefault("template", {"id": await template_id(client, tenant)})
    response = await client.post("/v1/cases", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    case: dict[str, Any] = response.json()
    return case


async def test_create_from_a_template(client: httpx.AsyncClient, claims: Tenant) -> None:
    case = await new_case(
        client,
        claims,
        owner={"email": claims.owner_email},
        contacts=[JO, {"key": "broker", "name": "Broker & Co", "phone": "+32 2 555 12 34"}],
        schema=[{"key": "claimed_amount", "value": "1250.5"}, {"key": "cause", "value": "fire"}],
    )
    assert case["title"] == "Insurance claim" and case["is_template"] is False
    assert case["status"] == "new" and case["parent_status"] == "draft"
    assert case["waiting_for"] == "none" and case["archived_at"] is None
    assert len(case["reference"]) == 6 and case["reference"].isalnum()
    assert case["owner"]["email"] == claims.owner_email
    main, broker = case["contacts"]
    assert (main["key"], main["main"], main["email"]) == ("main", True, "Jo@client.example")
    assert (broker["key"], broker["main"], broker["phone"]) == ("broker", False, "+3225551234")
    schema = {field["key"]: field for field in case["schema"]}
    assert schema["claimed_amount"]["value"] == "1250.5"  # amounts as decimal strings
    assert schema["cause"]["value"] == "fire" and schema["incident_date"]["value"] is None
    assert [(s["key"], s["status"], s["form"]) for s in case["steps"]][:2] == [
        ("details", "available", None),
        ("welcome", "available", None),
    ]
    assert [s["key"] for s in case["statuses"]][-1] == "settled"

    fetched = await client.get(f"/v1/cases/{case['id']}", headers=claims.headers)
    assert fetched.status_code == 200
    assert fetched.json() == case


async def test_create_without_a_template(client: httpx.AsyncClient, claims: Tenant) -> None:
    case = await new_case(
        client,
        claims,
        template=None,
        title="Ad hoc",
        reference="CRM-42",
        status="in_progress",
        contacts=[{"email": "solo@client.example"}],
        schema=[{"key": "budget", "type": "number", "name": "Budget", "value": 12}],
    )
    assert case["template"] is None and case["reference"] == "CRM-42"
    assert (case["status"], case["parent_status"]) == ("in_progress", "in_progress")
    assert case["schema"] == [
        {
            "key": "budget",
            "type": "number",
            "name": "Budget",
            "value": 12,
            "options": {"visibility": "always-visible"},
        }
    ]
    assert case["steps"] == [] and case["contacts"][0]["key"] == "main"
    again = await client.post(
        "/v1/cases", json={"title": "Twice", "reference": "CRM-42"}, headers=claims.headers
    )
    assert_error(again, 409, "CRM-42")


NO_SUCH_ID = "00000000-0000-4000-8000-00000000abcd"


async def test_creation_errors_name_the_field(client: httpx.AsyncClient, claims: Tenant) -> None:
    template = {"id": await template_id(client, claims)}
    cases = [
        ({"template": {"id": "00000000-0000-4000-8000-000000000000"}}, "template.id"),
        ({"title": "No template, no workspace problem"} | {"template": None}, None),
        ({"template": template, "owner": {"email": "nobody@x.example"}}, "owner.email"),
        ({"template": template, "owner": {"email": "not an email"}}, "owner.email"),
        ({"template": template, "contacts": [{"email": "bad@"}]}, "contacts[0].email"),
        ({"template": template, "contacts": [{"phone": "0470"}]}, "contacts[0].phone"),
        ({"template": template, "contacts": [{"key": "Broker!"}]}, "contacts[0].key"),
        ({"template": template, "contacts": [{}, {}]}, "two contacts have the key 'main'"),
        ({"template": template, "status": "lost"}, "'lost' is not a status"),
        (
            {"template": template, "schema": [{"key": "claimed_amount", "value": "a lot"}]},
            "schema[0] ('claimed_amount')",
        ),
        (
            {"template": template, "schema": [{"key": "cause", "value": "flood"}]},
            "must be one of fire, water, theft",
        ),
        (
            {"template": template, "schema": [{"key": "incident_date", "value": "21/11/2026"}]},
            "YYYY-MM-DD",
        ),
        (
            {"template": template, "schema": [{"key": "cause", "type": "text"}]},
            "is a choices, not text",
        ),
        ({"template": template, "schema": [{"key": "extra"}]}, "needs a type and a name"),
        (
            {"template": template, "schema": [{"key": "consent", "value": NO_SUCH_ID}]},
            f"'consent' names signature {NO_SUCH_ID}, which is not in this workspace",
        ),
        ({"title": ""}, "title"),
        ({"template": None}, "'title' is required"),
        ({"template": template, "colour": "red"}, "colour"),
    ]
    for body, fragment in cases:
        response = await client.post("/v1/cases", json=body, headers=claims.headers)
        if fragment is None:
            assert response.status_code == 200, response.text
            continue
        assert_error(response, 400, fragment)
    listed = await client.get("/v1/cases/count", headers=claims.headers)
    assert listed.json() == {"count": 1}  # only the one good body made a case


async def test_access(client: httpx.AsyncClient, claims: Tenant, make_tenant: Any) -> None:
    case = await new_case(client, claims)
    stranger = await make_tenant(template_files=[])
    assert_error(await client.get(f"/v1/cases/{case['id']}", headers=stranger.headers), 403)
    ghost = "00000000-0000-4000-8000-000000000000"
    assert_error(await client.get(f"/v1/cases/{ghost}", headers=claims.headers), 404)
    foreign = await client.post(
        "/v1/cases", json={"template": {"id": case["template"]}}, headers=stranger.headers
    )
    assert_error(foreign, 400, "template.id")


async def test_a_case_template_cannot_start_steps_or_change(
    client: httpx.AsyncClient, claims: Tenant
) -> None:
    template = await template_id(client, claims)
    started = await client.post(f"/v1/cases/{template}/start/details", headers=claims.headers)
    assert_error(started, 409, "is a case template")
    data = await client.post(
        f"/v1/cases/{template}/data", json={"data": {"cause": "fire"}}, headers=claims.headers
    )
    assert_error(data, 409, "is a case template")
    again = await client.get(f"/v1/case_templates/{template}", headers=claims.headers)
    steps = again.json()["steps"]
    assert steps and all(step.get("started_at") is None for step in steps)


async def test_a_null_status_changes_nothing(client: httpx.AsyncClient, claims: Tenant) -> None:
    """As every other field of the PATCH: null leaves the status as it is (it was refused as
    "'None' is not a status")."""
    case = await new_case(client, claims)
    url = f"/v1/cases/{case['id']}"
    patched = await client.patch(url, json={"status": None}, headers=claims.headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["status"] == case["status"]

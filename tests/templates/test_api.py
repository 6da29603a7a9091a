"""GET /v1/form_templates, /v1/flows and the steps/options of one template."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.templates import service as templates
from tests.conftest import DEMO_TEMPLATES, Grant, MakeTenant
from tests.helpers import Tenant, assert_error


async def test_list_form_templates(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get("/v1/form_templates", headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["meta"] == {"total_count": 2, "total_pages": 1, "page_size": 10, "current_page": 1}
    first = body["data"][0]
    assert {"id", "created_at", "slug", "name", "archived_at", "enabled"} <= set(first)
    assert {t["slug"] for t in body["data"]} == {"contact-details", "client-onboarding"}
    assert all(t["workspace"]["slug"] == tenant.slug for t in body["data"])
    by_name = (await client.get("/v1/form_templates?sort=name", headers=tenant.headers)).json()
    assert [t["name"] for t in by_name["data"]] == ["Client onboarding", "Contact details"]
    ascending = await client.get("/v1/form_templates?sort=created_at", headers=tenant.headers)
    descending = await client.get("/v1/form_templates?sort=-created_at", headers=tenant.headers)
    assert [t["id"] for t in ascending.json()["data"]] == [
        t["id"] for t in reversed(descending.json()["data"])
    ]
    paged = await client.get(
        "/v1/form_templates?page[size]=1&page[number]=2", headers=tenant.headers
    )
    assert len(paged.json()["data"]) == 1 and paged.json()["meta"]["total_pages"] == 2


async def test_archived_templates(
    client: httpx.AsyncClient, tenant: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as session:
        await templates.set_archived(session, tenant.slug, "contact-details", True)
    current = (await client.get("/v1/form_templates", headers=tenant.headers)).json()
    assert [t["slug"] for t in current["data"]] == ["client-onboarding"]
    everything = (
        await client.get("/v1/form_templates?archived=true", headers=tenant.headers)
    ).json()
    assert len(everything["data"]) == 2
    flows = (await client.get("/v1/flows", headers=tenant.headers)).json()
    assert [t["slug"] for t in flows] == ["client-onboarding"]
    only_archived = (await client.get("/v1/flows?archived=true", headers=tenant.headers)).json()
    assert [t["slug"] for t in only_archived] == ["contact-details"]
    assert only_archived[0]["archived_at"] is not None


async def test_steps_in_each_language(client: httpx.AsyncClient, tenant: Tenant) -> None:
    steps = (
        await client.get("/v1/form_templates/client-onboarding/steps", headers=tenant.headers)
    ).json()
    assert [s["id"] for s in steps] == ["identity", "company", "bank", "documents"]
    first = steps[0]["elements"][0]
    assert first == {
        "key": "client_type",
        "type": "choices",
        "label": "You are",
        "required": True,
        "options": [
            {"value": "individual", "label": "An individual"},
            {"value": "company", "label": "A company"},
        ],
    }
    assert steps[1]["visible_if"] == {"field": "client_type", "eq": "company"}
    french = (
        await client.get("/v1/flows/client-onboarding/steps?locale=fr", headers=tenant.headers)
    ).json()
    assert french[0]["title"] == "À propos de vous"
    assert french[0]["elements"][0]["options"][1]["label"] == "Une entreprise"
    german = await client.get(
        "/v1/form_templates/client-onboarding/steps?locale=de", headers=tenant.headers
    )
    assert_error(german, 400, "Locale 'de'", "en, fr, nl")


async def test_options(client: httpx.AsyncClient, tenant: Tenant) -> None:
    options = await client.get(
        "/v1/form_templates/client-onboarding/options", headers=tenant.headers
    )
    assert options.json() == {
        "send_invitation": True,
        "max_reminders": 3,
        "reminder_interval_days": 3,
        "send_confirmation": True,
    }
    legacy = await client.get("/v1/flows/contact-details/options", headers=tenant.headers)
    assert legacy.json() == {
        "send_invitation": True,
        "max_reminders": 3,
        "reminder_interval_days": None,
        "send_confirmation": False,
    }
    missing = await client.get("/v1/form_templates/ghost/options", headers=tenant.headers)
    assert_error(missing, 404, "'ghost'")


async def test_a_new_version_leaves_existing_forms_on_theirs(
    client: httpx.AsyncClient, tenant: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    old = (
        await client.post(
            "/v1/forms", json={"flow": {"slug": "contact-details"}}, headers=tenant.headers
        )
    ).json()
    async with sessionmaker() as session:
        definition = templates.read_file(DEMO_TEMPLATES / "contact-details.yaml")
        _, version, changed = await templates.publish(session, tenant.slug, definition)
        assert (version, changed) == (1, False)  # the same content is not a new version
        renamed = definition.model_copy(update={"name": "Contact details v2"})
        _, version, changed = await templates.publish(session, tenant.slug, renamed)
        assert (version, changed) == (2, True)
    new = (
        await client.post(
            "/v1/forms", json={"flow": {"slug": "contact-details"}}, headers=tenant.headers
        )
    ).json()
    assert new["flow"]["version"] == 2
    again = (await client.get(f"/v1/forms/{old['id']}", headers=tenant.headers)).json()
    assert again["flow"]["version"] == 1
    listed = (await client.get("/v1/form_templates", headers=tenant.headers)).json()["data"]
    assert {t["slug"]: t["version"] for t in listed}["contact-details"] == 2


async def test_slug_shared_by_two_granted_workspaces(
    client: httpx.AsyncClient, make_tenant: MakeTenant, grant: Grant
) -> None:
    first, second = await make_tenant(), await make_tenant(with_token=False)
    headers = await grant(first.slug, second.slug)
    ambiguous = await client.get("/v1/form_templates/contact-details/steps", headers=headers)
    assert_error(ambiguous, 409, "More than one")
    chosen = await client.get(
        f"/v1/form_templates/contact-details/steps?company={second.slug}", headers=headers
    )
    assert chosen.status_code == 200
    by_id = await client.get(
        f"/v1/form_templates/contact-details/options?workspace[id]={first.id}", headers=headers
    )
    assert by_id.status_code == 200
    listed = (await client.get("/v1/form_templates", headers=headers)).json()
    assert listed["meta"]["total_count"] == 4

"""POST /v1/forms and GET /v1/forms/{id}: the seed shape, and every bad input as a clear 400."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.templates import service as templates
from tests.conftest import Grant, MakeTenant
from tests.helpers import Tenant, assert_error

# The notification object of seeds/01-get-form.txt, key for key.
NOTIFICATION_KEYS = {
    "id",
    "status",
    "method",
    "at",
    "to",
    "from",
    "cc",
    "bcc",
    "system",
    "locale",
    "template",
    "variables",
    "active",
    "error",
    "message_id",
    "attachments",
    "deleted_at",
}
SEED_FORM_KEYS = {
    "id",
    "created_at",
    "status",
    "archived",
    "archived_at",
    "processed_at",
    "active_from",
    "active_until",
    "links",
    "user",
    "owner",
    "flow",
    "data",
    "external_args",
    "options",
    "responses",
    "notifications",
}
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z")


async def create(client: httpx.AsyncClient, tenant: Tenant, **body: object) -> httpx.Response:
    body.setdefault("flow", {"slug": "contact-details"})
    return await client.post("/v1/forms", json=body, headers=tenant.headers)


async def test_created_form_has_every_key_of_the_penbox_shape(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await create(
        client,
        tenant,
        user={
            "email": "Jane@Example.com",
            "given_name": "Jane",
            "family_name": "Doe",
            "phone": "+32 470 12 34 56",
            "locale": "fr",
        },
        owner={"email": tenant.owner_email},
        data={"given_name": "Jane", "preferred_channel": "email"},
        external_args={"crm_id": "12345"},
    )
    assert response.status_code == 201, response.text
    form = response.json()
    assert set(form) >= SEED_FORM_KEYS
    assert form["status"] == "pending"
    assert form["archived"] is False and form["archived_at"] is None
    assert ISO_Z.fullmatch(form["created_at"])
    assert ISO_Z.fullmatch(form["active_until"])  # default expiry
    assert form["user"] == {
        "anonymous": False,
        "email": "Jane@example.com",
        "phone": "+32470123456",
        "given_name": "Jane",
        "family_name": "Doe",
        "locale": "fr",
        "internal_ref": None,
        "company_name": None,
    }
    assert form["owner"]["email"] == tenant.owner_email
    assert form["flow"] == {"slug": "contact-details", "version": 1}
    assert form["workspace"] == {"id": str(tenant.id), "slug": tenant.slug}
    assert form["data"] == {"given_name": "Jane", "preferred_channel": "email"}
    assert form["external_args"] == {"crm_id": "12345"}
    assert form["options"] == {
        "send_invitation": True,
        "max_reminders": 3,
        "reminder_interval_days": None,
        "send_confirmation": False,
    }
    assert form["responses"] == []
    # The invitation, by email and by SMS: written with the form, sent by the worker.
    invitations = form["notifications"]
    assert [(n["method"], n["to"]) for n in invitations] == [
        ("email", "Jane@example.com"),
        ("sms", "+32470123456"),
    ]
    for notification in invitations:
        assert set(notification) == NOTIFICATION_KEYS
        assert notification["template"] == "request_invitation"
        assert notification["system"] is True and notification["status"] == "pending"
        assert notification["variables"]["form.link"] == form["links"]["fill"]
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/f/[A-Za-z0-9_-]{32}", form["links"]["fill"])
    assert form["links"]["app"].endswith(f"/app/forms/{form['id']}")

    fetched = await client.get(f"/v1/forms/{form['id']}", headers=tenant.headers)
    assert fetched.status_code == 200
    again = fetched.json()
    # The worker may have settled the notifications meanwhile (no SMTP server: skipped).
    assert [n["id"] for n in again.pop("notifications")] == [n["id"] for n in invitations]
    assert again == {key: value for key, value in form.items() if key != "notifications"}
    legacy = (await client.get(f"/v1/requests/{form['id']}", headers=tenant.headers)).json()
    assert [n["id"] for n in legacy.pop("notifications")] == [n["id"] for n in invitations]
    assert legacy == again


async def test_fill_links_are_unguessable_and_distinct(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    links = {(await create(client, tenant)).json()["links"]["fill"] for _ in range(5)}
    assert len(links) == 5


async def test_draft_and_requests_alias(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/v1/requests",
        json={"flow": {"slug": "contact-details"}, "draft": True},
        headers=tenant.headers,
    )
    assert response.status_code == 201
    form = response.json()
    assert form["status"] == "draft"
    assert form["user"]["anonymous"] is True
    assert form["owner"] is None


async def test_activity_window(client: httpx.AsyncClient, tenant: Tenant) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    response = await create(
        client, tenant, active_from=start.isoformat(), active_until="2099-01-01"
    )
    assert response.status_code == 201
    form = response.json()
    assert form["active_until"] == "2099-01-01T00:00:00Z"
    assert form["active_from"].startswith(start.strftime("%Y-%m-%dT%H:%M"))
    no_until = (await create(client, tenant, active_from=start.isoformat())).json()
    expires = datetime.fromisoformat(no_until["active_until"].replace("Z", "+00:00"))
    assert expires - start > timedelta(days=59)  # the default expiry counts from activation

    reversed_window = await create(
        client, tenant, active_from="2030-01-02", active_until="2030-01-01"
    )
    assert_error(reversed_window, 400, "active_until", "later than")
    assert_error(await create(client, tenant, active_until="next week"), 400, "active_until")


async def test_prefill_keys_and_values_are_checked(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    unknown = await create(client, tenant, data={"nickname": "J", "favourite": 1})
    assert_error(unknown, 400, "'nickname' is not an element", "'favourite'")
    wrong = await create(
        client,
        tenant,
        flow={"slug": "client-onboarding"},
        data={
            "iban": "BE00 0000",
            "employees": "many",
            "client_type": "robot",
            "services": ["golf"],
            "birth_date": "01/02/1990",
        },
    )
    body = assert_error(
        wrong,
        400,
        "'iban' is not a valid IBAN",
        "'employees' must be a number",
        "'client_type' must be one of individual, company",
        "'services' has unknown",
        "'birth_date' must be a date",
    )
    assert "signature" not in body["message"]
    signature = await create(
        client, tenant, flow={"slug": "client-onboarding"}, data={"signature": "x"}
    )
    assert_error(signature, 400, "'signature' is a signature element and cannot be prefilled")
    nested = await create(
        client,
        tenant,
        flow={"slug": "client-onboarding"},
        data={"iban": "GB82 WEST 1234 5698 7654 32", "services": ["tax"], "employees": 12},
    )
    assert nested.status_code == 201, nested.text


async def test_options_are_checked_against_the_template(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    ok = await create(client, tenant, options={"reminder_interval_days": 7})
    assert ok.json()["options"]["reminder_interval_days"] == 7
    assert_error(
        await create(client, tenant, options={"colour": "red"}), 400, "unknown option 'colour'"
    )
    assert_error(
        await create(client, tenant, options={"send_confirmation": "yes"}),
        400,
        "'send_confirmation' must be a boolean",
    )


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ({"flow": {}}, ["flow.slug"]),
        ({}, ["flow"]),
        ({"flow": {"slug": 5}}, ["flow.slug"]),
        ({"flow": {"slug": "contact-details"}, "draft": "yes"}, ["draft"]),
        ({"flow": {"slug": "contact-details"}, "colour": "red"}, ["Unknown field 'colour'"]),
        (
            {"flow": {"slug": "contact-details"}, "user": {"email": "not-an-email"}},
            ["user.email", "not a valid email"],
        ),
        (
            {"flow": {"slug": "contact-details"}, "user": {"phone": "0470 12"}},
            ["user.phone", "valid phone number"],
        ),
        ({"flow": {"slug": "contact-details"}, "user": {"locale": "french"}}, ["user.locale"]),
        (
            {"flow": {"slug": "contact-details"}, "owner": {"email": "stranger@example.com"}},
            ["owner.email", "not a member"],
        ),
        (
            {"flow": {"slug": "contact-details"}, "redirect_url": "http://example.com/done"},
            ["redirect_url", "https"],
        ),
        (
            {"flow": {"slug": "contact-details"}, "webhooks": {"https://x.example/h": ["nope"]}},
            ["unknown events nope"],
        ),
        (
            {
                "flow": {"slug": "contact-details"},
                "webhooks": {"ftp://x.example/h": ["forms:created"]},
            },
            ["ftp://x.example/h", "https://"],
        ),
        ({"flow": {"slug": "contact-details"}, "data": []}, ["data"]),
        (
            {
                "flow": {"slug": "contact-details"},
                "redirect_url": "https://x.example/" + "a" * 3000,
            },
            ["redirect_url"],
        ),
        ({"flow": {"slug": "contact-details"}, "branding": {"slug": "b" * 100}}, ["branding.slug"]),
        ({"flow": {"slug": "contact-details"}, "company": {"id": "not-a-uuid"}}, ["company.id"]),
    ],
)
async def test_bad_bodies_get_400_naming_the_field(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, object], fragments: list[str]
) -> None:
    response = await client.post("/v1/forms", json=body, headers=tenant.headers)
    assert_error(response, 400, *fragments)


async def test_nul_characters_are_refused_not_fatal(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await create(client, tenant, flow={"slug": "contact\u0000details"})
    assert created.status_code in (400, 404), created.text  # PostgreSQL: 400; SQLite: no such
    listed = await client.get("/v1/forms", params={"user[email]": "a\x00b"}, headers=tenant.headers)
    assert listed.status_code in (200, 400), listed.text
    assert listed.headers["content-type"].startswith("application/json")


async def test_malformed_json_and_wrong_content_type(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    headers = {**tenant.headers, "Content-Type": "application/json"}
    bad = await client.post("/v1/forms", content=b'{"flow": ', headers=headers)
    assert_error(bad, 400, "not valid JSON")
    text = await client.post("/v1/forms", content=b"flow=x", headers=tenant.headers)
    assert_error(text, 400, "JSON object")
    array = await client.post("/v1/forms", json=[1, 2], headers=tenant.headers)
    assert_error(array, 400)


async def test_webhooks_are_kept_with_older_event_names_mapped(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await create(
        client,
        tenant,
        webhooks={"https://hooks.example/penbox": ["requests:archived", "responses:completed"]},
        redirect_url="https://example.com/thanks",
    )
    form = response.json()
    assert form["webhooks"] == {
        "https://hooks.example/penbox": ["forms:archived", "responses:completed"]
    }
    assert form["redirect_url"] == "https://example.com/thanks"


async def test_unknown_template_is_404_and_archived_template_cannot_be_used(
    client: httpx.AsyncClient, tenant: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    assert_error(await create(client, tenant, flow={"slug": "nope"}), 404, "'nope'")
    async with sessionmaker() as session:
        await templates.set_archived(session, tenant.slug, "contact-details", True)
    assert_error(await create(client, tenant), 404, "archived")


async def test_get_unknown_form_is_404_and_bad_id_400(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    assert_error(await client.get(f"/v1/forms/{uuid.uuid4()}", headers=tenant.headers), 404)
    assert_error(
        await client.get("/v1/forms/123", headers=tenant.headers), 400, "Path parameter 'form_id'"
    )


async def test_workspace_choice_when_the_token_grants_several(
    client: httpx.AsyncClient, make_tenant: MakeTenant, grant: Grant
) -> None:
    first, second = await make_tenant(), await make_tenant(with_token=False)
    headers = await grant(first.slug, second.slug)
    both = Tenant(first.id, first.slug, headers["Authorization"].split()[1], first.owner_email)
    ambiguous = await create(client, both)
    assert_error(ambiguous, 409, "More than one form template 'contact-details'", "company")
    chosen = await create(client, both, company={"slug": second.slug})
    assert chosen.status_code == 201
    assert chosen.json()["workspace"]["slug"] == second.slug
    by_id = await create(client, both, workspace={"id": str(first.id)})
    assert by_id.json()["workspace"]["slug"] == first.slug
    other = await make_tenant()
    refused = await create(client, both, company={"slug": other.slug})
    assert_error(refused, 403, other.slug)

"""A case's life: created from its template, a form step sent and filled by the contact,
data that moves the status by itself, contacts, hand changes, the timeline and the events."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.cases import templates
from formcase.events.models import Event
from tests.attachments.samples import png
from tests.cases.test_case_templates import claim, parse
from tests.cases.test_cases_api import JO, new_case
from tests.helpers import Tenant, assert_error, fill_api


async def case_of(client: httpx.AsyncClient, tenant: Tenant, case_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/cases/{case_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def listed_contacts(
    client: httpx.AsyncClient, tenant: Tenant, case: dict[str, Any]
) -> list[dict[str, Any]]:
    """The case's contacts as GET /v1/cases lists them (from cases.contacts_json)."""
    answer = await client.get(f"/v1/cases?reference={case['reference']}", headers=tenant.headers)
    [listed] = answer.json()["data"]
    return list(listed["contacts"])


def step(case: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s for s in case["steps"] if s["key"] == key)


async def test_full_flow(
    client: httpx.AsyncClient, claims: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    case = await new_case(client, claims, contacts=[JO], owner={"email": claims.owner_email})
    url = f"/v1/cases/{case['id']}"

    # A form step sends its form to the main contact; the case waits for them.
    started = await client.post(f"{url}/start/details", headers=claims.headers)
    assert started.status_code == 200, started.text
    details = step(started.json(), "details")
    assert details["status"] == "started" and details["started_at"]
    form = details["form"]
    assert form["status"] == "pending" and form["links"]["fill"].startswith("http")
    assert started.json()["waiting_for"] == "contact"
    assert_error(await client.post(f"{url}/start/details", headers=claims.headers), 409, "already")
    sent = await client.get(f"/v1/forms/{form['id']}", headers=claims.headers)
    assert sent.json()["user"]["email"] == "Jo@client.example"
    assert sent.json()["external_args"] == {"case_id": case["id"], "case_step": "details"}

    # The contact fills it in: the step is completed and the case waits for its owner.
    as_form = {"links": form["links"]}
    assert (await client.post(fill_api(as_form, "state"))).status_code == 200
    saved = await client.post(
        fill_api(as_form, "steps/about"), json={"data": {"story": "A tree fell on my car."}}
    )
    assert saved.status_code == 200, saved.text
    assert (await client.post(fill_api(as_form, "submit"))).status_code == 200
    after = await case_of(client, claims, case["id"])
    assert step(after, "details")["status"] == "completed"
    assert step(after, "details")["form"]["status"] == "completed"
    assert after["waiting_for"] == "owner"

    # Data: one bad value refuses the whole update; good values move the status by itself.
    bad = await client.post(
        f"{url}/data",
        json={"data": {"cause": "fire", "incident_date": "yesterday", "ghost": 1}},
        headers=claims.headers,
    )
    problem = assert_error(bad, 400, "'incident_date'", "'ghost' is not a field")
    assert len(problem["errors"]) == 2
    assert (await case_of(client, claims, case["id"]))["status"] == "new"  # nothing written
    # A file value must name an attachment of the case's workspace.
    unknown = str(uuid.uuid4())
    refused = await client.post(
        f"{url}/data",
        json={"data": {"cause": "fire", "police_report": unknown}},
        headers=claims.headers,
    )
    assert_error(refused, 400, f"'police_report' names attachment {unknown}", "not in this")
    picture = await client.post(
        "/v1/attachments",
        files={"file": ("photo.png", png(8, 8), "image/png")},
        headers=claims.headers,
    )
    assert picture.status_code == 201, picture.text
    wrong_type = await client.post(
        f"{url}/data",
        json={"data": {"police_report": picture.json()["id"]}},
        headers=claims.headers,
    )
    assert_error(wrong_type, 400, "'police_report' accepts application/pdf", "is image/png")
    assert (await case_of(client, claims, case["id"]))["status"] == "new"  # nothing written
    uploaded = await client.post(
        "/v1/attachments",
        files={"file": ("report.pdf", b"%PDF-1.4 police report", "application/pdf")},
        headers=claims.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    report = uploaded.json()["id"]
    updated = await client.post(
        f"{url}/data",
        json={"data": {"cause": "fire", "police_report": report, "claimed_amount": 99.9}},
        headers=claims.headers,
    )
    assert updated.status_code == 200, updated.text
    moved = updated.json()
    assert (moved["status"], moved["parent_status"]) == ("under_review", "in_progress")
    values = {field["key"]: field["value"] for field in moved["schema"]}
    assert values["police_report"] == report and values["claimed_amount"] == "99.9"
    closed = await client.post(
        f"{url}/data", json={"data": {"expert_approved": True}}, headers=claims.headers
    )
    assert (closed.json()["status"], closed.json()["parent_status"]) == ("settled", "closed")

    # Steps: a hidden one cannot start (cause is fire: the fire check is visible); a note is
    # done once written; an unknown one is 404.
    noted = await client.post(f"{url}/start/fire_check", headers=claims.headers)
    assert step(noted.json(), "fire_check")["status"] == "completed"
    assert_error(await client.post(f"{url}/start/nope", headers=claims.headers), 404, "nope")
    # the broker's SMS needs a broker with a phone: not yet
    no_broker = await client.post(f"{url}/start/broker_sms", headers=claims.headers)
    assert_error(no_broker, 409, "'broker' contact", "no phone")

    # Contacts: upsert by key; the main contact stays.
    contacts = await client.post(
        f"{url}/contacts",
        json={
            "contacts": [
                {"key": "broker", "email": "b@broker.example", "phone": "+32 470 99 88 77"},
                {"phone": "+32470000001"},
            ]
        },
        headers=claims.headers,
    )
    assert contacts.status_code == 200, contacts.text
    by_key = {c["key"]: c for c in contacts.json()["contacts"]}
    assert by_key["broker"]["email"] == "b@broker.example"
    assert by_key["main"]["phone"] == "+32470000001" and by_key["main"]["given_name"] == "Jo"
    # the list shows the contacts as they are now, in the case's order
    assert await listed_contacts(client, claims, case) == contacts.json()["contacts"]
    # Now the SMS step goes out through the notification system (its 'log' provider here).
    texted = await client.post(f"{url}/start/broker_sms", headers=claims.headers)
    assert texted.status_code == 200, texted.text
    sms = step(texted.json(), "broker_sms")
    assert sms["status"] == "completed"
    assert sms["notification"]["method"] == "sms" and sms["notification"]["to"] == "+32470998877"
    assert sms["notification"]["template"] == "case_step"
    refused = await client.post(
        f"{url}/contacts",
        json={"contacts": [{"key": "main", "remove": True}]},
        headers=claims.headers,
    )
    assert_error(refused, 400, "main contact cannot be removed")
    removed = await client.post(
        f"{url}/contacts",
        json={"contacts": [{"key": "broker", "remove": True}]},
        headers=claims.headers,
    )
    assert [c["key"] for c in removed.json()["contacts"]] == ["main"]
    assert await listed_contacts(client, claims, case) == removed.json()["contacts"]

    # By hand: waiting_for and the status.
    patched = await client.patch(
        url, json={"waiting_for": "none", "status": "awaiting_documents"}, headers=claims.headers
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["waiting_for"], patched.json()["parent_status"]) == ("none", "pending")
    assert_error(
        await client.patch(url, json={"status": "lost"}, headers=claims.headers), 400, "lost"
    )

    timeline = (await client.get(f"{url}/timeline", headers=claims.headers)).json()["data"]
    assert [entry["kind"] for entry in timeline] == [
        "created",
        "step_started",
        "step_completed",
        "data_updated",
        "status_changed",
        "data_updated",
        "status_changed",
        "step_started",
        "contacts_updated",
        "step_started",
        "contacts_updated",
        "status_changed",
        "updated",
    ]
    auto = timeline[4]
    assert auto["actor"]["type"] == "system" and auto["changes"]["by"] == "auto_transition"
    assert timeline[0]["actor"]["type"] == "token" and timeline[2]["actor"]["type"] == "contact"

    async with sessionmaker() as session:
        kinds = [
            event.kind
            for event in await session.scalars(
                select(Event)
                .where(Event.subject_id == uuid.UUID(case["id"]))
                .order_by(Event.created_at)
            )
        ]
    assert kinds.count("cases:created") == 1
    assert kinds.count("cases:step_started") == 3
    assert kinds.count("cases:status_changed") == 3


async def test_auto_start_steps_run_with_the_case(
    client: httpx.AsyncClient, claims: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    document = claim(slug="quick-claim", title="Quick claim")
    document["steps"][0]["auto_start"] = True  # the form step
    document["steps"][3]["auto_start"] = True  # the fire note: hidden unless cause is fire
    async with sessionmaker() as session:
        row, _ = await templates.import_template(session, claims.slug, parse(document))
    case = await new_case(client, claims, template={"id": str(row.id)}, contacts=[JO])
    assert step(case, "details")["status"] == "started" and step(case, "details")["form"]
    assert step(case, "fire_check")["status"] == "available"
    assert case["waiting_for"] == "contact"
    # without the contact the form cannot go out: the case is not made at all
    refused = await client.post(
        "/v1/cases", json={"template": {"id": str(row.id)}}, headers=claims.headers
    )
    assert_error(refused, 409, "'main' contact", "no email or phone")

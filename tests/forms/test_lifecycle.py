"""PATCH /v1/forms/{id}: archive, draft, processed, active_until, and the transitions the
lifecycle forbids (422 saying why)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.forms import service
from formcase.forms.models import Form
from tests.helpers import Tenant, assert_error

ForceStatus = Callable[[str, str], Awaitable[None]]


async def new_form(client: httpx.AsyncClient, tenant: Tenant, **body: object) -> str:
    response = await client.post(
        "/v1/forms", json={"flow": {"slug": "contact-details"}, **body}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    form_id: str = response.json()["id"]
    return form_id


async def patch(
    client: httpx.AsyncClient, tenant: Tenant, form_id: str, body: object
) -> httpx.Response:
    return await client.patch(f"/v1/forms/{form_id}", json=body, headers=tenant.headers)


async def test_archive_and_unarchive(client: httpx.AsyncClient, tenant: Tenant) -> None:
    form_id = await new_form(client, tenant)
    archived = await patch(client, tenant, form_id, {"archived": True})
    assert archived.status_code == 200
    body = archived.json()
    assert body["archived"] is True and body["archived_at"] is not None
    assert body["status"] == "pending"
    again = (await patch(client, tenant, form_id, {"archived": True})).json()
    assert again["archived_at"] == body["archived_at"]  # archiving twice keeps the first date
    restored = (
        await client.patch(
            f"/v1/requests/{form_id}", json={"archived": False}, headers=tenant.headers
        )
    ).json()
    assert restored["archived"] is False and restored["archived_at"] is None


async def test_draft_activation_and_back(client: httpx.AsyncClient, tenant: Tenant) -> None:
    form_id = await new_form(client, tenant, draft=True)
    active = (await patch(client, tenant, form_id, {"draft": False})).json()
    assert active["status"] == "pending"
    back = (await patch(client, tenant, form_id, {"draft": True})).json()
    assert back["status"] == "draft"


async def test_processed_only_from_completed(
    client: httpx.AsyncClient, tenant: Tenant, force_status: ForceStatus
) -> None:
    form_id = await new_form(client, tenant)
    refused = await patch(client, tenant, form_id, {"processed": True})
    assert_error(refused, 422, "pending", "only a completed form can be processed")
    await force_status(form_id, "completed")
    processed = (await patch(client, tenant, form_id, {"processed": True})).json()
    assert processed["status"] == "processed" and processed["processed_at"] is not None
    undone = (await patch(client, tenant, form_id, {"processed": False})).json()
    assert undone["status"] == "completed" and undone["processed_at"] is None


@pytest.mark.parametrize("final", ["completed", "declined", "processed"])
async def test_a_finished_form_cannot_go_back_to_draft_or_change_expiry(
    client: httpx.AsyncClient, tenant: Tenant, force_status: ForceStatus, final: str
) -> None:
    form_id = await new_form(client, tenant)
    await force_status(form_id, final)
    assert_error(await patch(client, tenant, form_id, {"draft": True}), 422, final)
    assert_error(await patch(client, tenant, form_id, {"active_until": "2099-01-01"}), 422)
    # Asking for what is already true is not an error.
    unchanged = await patch(client, tenant, form_id, {"draft": False})
    assert unchanged.status_code == 200 and unchanged.json()["status"] == final
    # Archival is independent of the status.
    assert (await patch(client, tenant, form_id, {"archived": True})).json()["archived"]


async def test_active_until(client: httpx.AsyncClient, tenant: Tenant) -> None:
    form_id = await new_form(client, tenant, active_from="2030-01-01")
    moved = await patch(client, tenant, form_id, {"active_until": "2031-06-01T12:00:00+02:00"})
    assert moved.json()["active_until"] == "2031-06-01T10:00:00Z"
    cleared = (await patch(client, tenant, form_id, {"active_until": None})).json()
    assert cleared["active_until"] is None
    before_start = await patch(client, tenant, form_id, {"active_until": "2029-01-01"})
    assert_error(before_start, 422, "later than")


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({}, 400, "Nothing to update"),
        ({"status": "completed"}, 400, "Unknown field 'status'"),
        ({"archived": "yes"}, 400, "archived"),
        ({"archived": None}, 400, "archived"),
        ({"active_until": "soon"}, 400, "active_until"),
        ([], 400, "JSON object"),
    ],
)
async def test_bad_patches(
    client: httpx.AsyncClient, tenant: Tenant, body: object, status: int, fragment: str
) -> None:
    form_id = await new_form(client, tenant)
    assert_error(await patch(client, tenant, form_id, body), status, fragment)
    unchanged = (await client.get(f"/v1/forms/{form_id}", headers=tenant.headers)).json()
    assert unchanged["status"] == "pending" and unchanged["archived"] is False


async def test_patch_moves_a_form_up_in_updated_at_order(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first, second = await new_form(client, tenant), await new_form(client, tenant)
    before = (await client.get(f"/v1/forms/{first}", headers=tenant.headers)).json()
    await patch(client, tenant, first, {"draft": True})
    after = (await client.get(f"/v1/forms/{first}", headers=tenant.headers)).json()
    assert after["updated_at"] >= before["updated_at"]
    assert after["created_at"] == before["created_at"]
    order = (await client.get("/v1/forms?sort=-updated_at", headers=tenant.headers)).json()
    assert [form["id"] for form in order["data"]] == [first, second]


async def test_a_form_read_in_a_transaction_shows_its_changes_not_yet_flushed(
    client: httpx.AsyncClient, tenant: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The document a change publishes (its event, its answer) is read after the change, in
    the same transaction: the read flushes what the ORM holds, as every ORM query does."""
    created = await client.post(
        "/v1/forms", json={"flow": {"slug": "contact-details"}}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    form_id = uuid.UUID(created.json()["id"])
    async with sessionmaker() as session:
        form = await session.get(Form, form_id)
        assert form is not None
        form.status, form.user_given_name = "completed", "Changed"
        document = await service.document_of(session, form_id, "http://formcase.test")
        await session.rollback()
    assert document["status"] == "completed" and document["user"]["given_name"] == "Changed"


@pytest.mark.parametrize("value", [0, 1, "true", "no"])
async def test_archived_takes_only_true_or_false(
    client: httpx.AsyncClient, tenant: Tenant, value: object
) -> None:
    """`0` was read as false: a switch is a JSON boolean, nothing else, and the form stays."""
    form_id = await new_form(client, tenant)
    response = await patch(client, tenant, form_id, {"archived": value})
    assert response.status_code == 400, response.text
    assert "archived" in response.json()["message"]
    form = (await client.get(f"/v1/forms/{form_id}", headers=tenant.headers)).json()
    assert form["archived"] is False

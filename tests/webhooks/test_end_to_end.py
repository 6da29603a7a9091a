"""The whole path through the running app: a change through the API, its event, the
delivery made in the same transaction, the app's own worker sending it to the receiver."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import MakeTenant
from tests.helpers import Tenant
from tests.webhooks.conftest import Received, Receiver, subscribe

SURVEY = Path(__file__).parents[1] / "fill" / "survey.yaml"
pytestmark = pytest.mark.usefixtures("allow_private")
MILLISECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def received(receiver: Receiver, form_id: str, event: str) -> Received:
    for _ in range(200):
        for call in receiver.received:
            body = call.json
            if event in body["events"] and body["request"]["id"] == form_id:
                return call
        await asyncio.sleep(0.05)
    raise AssertionError(f"{event} of form {form_id} never arrived: {receiver.received}")


async def test_workspace_subscription_gets_created_and_archived(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, app: Any
) -> None:
    if getattr(app.state, "worker", None) is None:
        pytest.skip("the test app runs no worker")
    subscription = await subscribe(
        client, tenant, receiver, "/ok", ["requests:created", "forms:archived"]
    )
    response = await client.post(
        "/v1/forms",
        json={"flow": {"slug": "contact-details"}, "user": {"email": "jo@example.com"}},
        headers=tenant.headers,
    )
    form = response.json()
    call = await received(receiver, form["id"], "forms:created")
    created = call.json
    assert MILLISECONDS.fullmatch(created.pop("occurred_at"))
    assert created == {
        "events": ["forms:created"],
        "data": {"type": "forms", "id": form["id"]},
        "request": form,
        "sequence": 1,
    }
    await client.patch(f"/v1/forms/{form['id']}", json={"archived": True}, headers=tenant.headers)
    call = await received(receiver, form["id"], "forms:archived")
    assert call.json["events"] == ["forms:archived"]  # forms:updated is not subscribed to
    assert call.json["request"]["archived"] is True
    assert call.json["sequence"] == 2
    listing = await client.get(
        f"/v1/webhooks/{subscription['id']}/deliveries", headers=tenant.headers
    )
    statuses = [item["status"] for item in listing.json()["data"]]
    assert len(statuses) == 2
    for _ in range(100):  # the worker records the attempt just after the receiver answers
        if statuses == ["delivered", "delivered"]:
            break
        await asyncio.sleep(0.05)
        listing = await client.get(
            f"/v1/webhooks/{subscription['id']}/deliveries", headers=tenant.headers
        )
        statuses = [item["status"] for item in listing.json()["data"]]
    assert statuses == ["delivered", "delivered"]


async def test_a_forms_own_webhooks_hear_its_completion(
    client: httpx.AsyncClient, make_tenant: MakeTenant, receiver: Receiver, app: Any
) -> None:
    """The `webhooks` map given when a form is created (Penbox's only way to subscribe)."""
    if getattr(app.state, "worker", None) is None:
        pytest.skip("the test app runs no worker")
    tenant = await make_tenant(template_files=[SURVEY])
    created = await client.post(
        "/v1/forms",
        json={
            "flow": {"slug": "survey"},
            "webhooks": {receiver.url("/form-hook"): ["responses:completed"]},
        },
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    form = created.json()
    listing = (await client.get("/v1/webhooks", headers=tenant.headers)).json()["data"]
    (own,) = [item for item in listing if item.get("form") == {"id": form["id"]}]
    assert own["events"] == ["responses:completed"]
    rotated = await client.post(f"/v1/webhooks/{own['id']}/secret", headers=tenant.headers)
    receiver.secrets["/form-hook"] = rotated.json()["secret"]

    fill = form["links"]["fill"].replace("http://127.0.0.1:8000", "") + "/api/"
    await client.post(fill + "steps/about", json={"data": {"name": "Jo", "kind": "person"}})
    await client.post(fill + "steps/end", json={"data": {"agree": True}})
    assert (await client.post(fill + "submit")).status_code == 200
    call = await received(receiver, form["id"], "responses:completed")
    assert call.path == "/form-hook"
    assert "responses:updated" not in call.json["events"]  # only what it subscribed to
    assert call.json["request"]["status"] == "completed"
    assert call.json["request"]["responses"][0]["data"]["name"] == "Jo"

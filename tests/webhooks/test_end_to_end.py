"""The whole path through the running app: a change through the API, its event, the
delivery made in the same transaction, the app's own worker sending it to the receiver."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

import formcase.webhooks.jobs  # noqa: F401  (registers the `webhook` job kind)
from tests.helpers import Tenant
from tests.webhooks.conftest import Received, Receiver, subscribe

pytestmark = pytest.mark.usefixtures("allow_private")


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
    assert call.json == {
        "events": ["forms:created"],
        "data": {"type": "forms", "id": form["id"]},
        "request": form,
    }
    await client.patch(f"/v1/forms/{form['id']}", json={"archived": True}, headers=tenant.headers)
    call = await received(receiver, form["id"], "forms:archived")
    assert call.json["events"] == ["forms:archived"]  # forms:updated is not subscribed to
    assert call.json["request"]["archived"] is True
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

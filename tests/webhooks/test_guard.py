"""The SSRF guard on IPv6 addresses that lead to an IPv4 address (6to4, Teredo, NAT64,
IPv4-mapped), and deliveries to a refused address: failed at once, the reason in the log.

These tests run the guard as in production: no `allow_private` fixture."""

from __future__ import annotations

import asyncio
import time
import uuid
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.config import Settings
from formcase.kit.errors import BadRequest
from formcase.webhooks import guard, service
from formcase.webhooks.jobs import DeliveryFailed, deliver
from formcase.webhooks.models import WebhookSubscription
from formcase.worker.registry import JobContext
from tests.helpers import Tenant, assert_error
from tests.webhooks.conftest import make_form, publish


def sixtofour(ipv4: str) -> str:
    return str(IPv6Address((0x2002 << 112) | (int(IPv4Address(ipv4)) << 80) | 1))


def teredo(server: str, client: str) -> str:
    """2001:0::/32, the server's IPv4 address, flags and port (0), the client's inverted."""
    client_bits = int(IPv4Address(client)) ^ 0xFFFFFFFF
    return str(IPv6Address((0x20010000 << 96) | (int(IPv4Address(server)) << 64) | client_bits))


def nat64(ipv4: str, prefix: str = "64:ff9b::") -> str:
    return str(IPv6Address(int(IPv6Address(prefix)) | int(IPv4Address(ipv4))))


PUBLIC = "8.8.8.8"

REFUSED = [
    (sixtofour("127.0.0.1"), "6to4 address of 127.0.0.1, a loopback address"),
    ("2002:7f00:1::", "6to4 address of 127.0.0.1, a loopback address"),  # the tester's
    (sixtofour("10.1.2.3"), "6to4 address of 10.1.2.3, a private address"),
    (sixtofour("169.254.10.1"), "6to4 address of 169.254.10.1, a link-local address"),
    (teredo(PUBLIC, "127.0.0.1"), "Teredo address of 127.0.0.1, a loopback address"),
    (teredo(PUBLIC, "192.168.1.10"), "Teredo address of 192.168.1.10, a private address"),
    (teredo(PUBLIC, "169.254.3.4"), "Teredo address of 169.254.3.4, a link-local address"),
    (teredo("10.0.0.1", PUBLIC), "Teredo address of 10.0.0.1, a private address"),
    (nat64("127.0.0.1"), "NAT64 address of 127.0.0.1, a loopback address"),
    (nat64("172.16.0.5"), "NAT64 address of 172.16.0.5, a private address"),
    (nat64("169.254.0.9"), "NAT64 address of 169.254.0.9, a link-local address"),
    (nat64("127.0.0.1", "64:ff9b:1::"), "NAT64 address of 127.0.0.1, a loopback address"),
    (nat64("10.9.8.7", "64:ff9b:1::"), "NAT64 address of 10.9.8.7, a private address"),
    ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped
    ("::ffff:192.168.0.1", "a private address"),
    ("::127.0.0.1", "a reserved address"),  # IPv4-compatible (deprecated): refused as it was
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_ipv6_forms_of_non_public_ipv4_addresses_are_refused(address: str, reason: str) -> None:
    why = guard.refusal(IPv6Address(address), allow_private=False)
    assert why is not None and why.endswith(reason), why


@pytest.mark.parametrize(
    "address",
    [
        sixtofour(PUBLIC),
        teredo(PUBLIC, "8.8.4.4"),
        nat64(PUBLIC),  # what DNS64 answers for an IPv4-only host
        nat64(PUBLIC, "64:ff9b:1::"),
        "::ffff:8.8.8.8",
    ],
)
def test_ipv6_forms_of_public_ipv4_addresses_pass(address: str) -> None:
    assert guard.refusal(IPv6Address(address), allow_private=False) is None


def test_metadata_behind_6to4_stays_refused_with_the_setting() -> None:
    why = guard.refusal(IPv6Address(sixtofour("169.254.169.254")), allow_private=True)
    assert why == "a 6to4 address of 169.254.169.254, a cloud metadata address"
    assert guard.refusal(IPv6Address(sixtofour("10.1.2.3")), allow_private=True) is None


async def test_6to4_of_loopback_is_400_for_subscriptions_and_forms(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    url = "https://[2002:7f00:1::]/hook"
    response = await client.post(
        "/v1/webhooks", json={"url": url, "events": ["*"]}, headers=tenant.headers
    )
    assert_error(response, 400, "6to4 address of 127.0.0.1, a loopback address", "refused")
    response = await client.post(
        "/v1/forms",
        json={"flow": {"slug": "contact-details"}, "webhooks": {url: ["forms:created"]}},
        headers=tenant.headers,
    )
    assert_error(response, 400, "6to4 address of 127.0.0.1")
    with pytest.raises(BadRequest, match=r"Teredo address of 127\.0\.0\.1"):
        service.check_form_webhooks({f"https://[{teredo(PUBLIC, '127.0.0.1')}]/x": ["*"]}, settings)


# A name the resolver turns into 127.0.0.1 (inet_aton's short form): not an address to the
# checks made without resolution, so a form accepts it; a delivery resolves it. Port 1: were
# the call made, it would fail and be retried.
LOOPBACK_NAME_URL = "https://127.1:1/hook"


async def settled_delivery(
    client: httpx.AsyncClient, tenant: Tenant, subscription_id: str
) -> dict[str, Any]:
    """The subscription's one delivery, once it is no longer pending (the app's worker sends
    it), as GET /v1/webhooks/{id}/deliveries shows it."""
    deadline = time.monotonic() + 30
    while True:
        response = await client.get(
            f"/v1/webhooks/{subscription_id}/deliveries", headers=tenant.headers
        )
        assert response.status_code == 200, response.text
        found = response.json()["data"]
        if found and found[0]["status"] != "pending":
            assert len(found) == 1
            return found[0]  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"still pending after 30 s: {found}"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("level", ["form", "workspace"])
async def test_a_delivery_to_a_refused_address_fails_at_once_saying_why(
    client: httpx.AsyncClient,
    tenant: Tenant,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    app: Any,
    level: str,
) -> None:
    if getattr(app.state, "worker", None) is None:
        pytest.skip("the test app runs no worker")
    assert not settings.webhook_allow_private  # the guard as in production
    form_body: dict[str, Any] = {"flow": {"slug": "contact-details"}}
    if level == "workspace":
        made = await client.post(
            "/v1/webhooks",
            json={"url": "https://93.184.215.14/hook", "events": ["forms:created"]},
            headers=tenant.headers,
        )
        assert made.status_code == 201, made.text
        subscription_id = made.json()["id"]
        # its name has come to resolve to a loopback address since
        async with sessionmaker() as session:
            row = await session.get(WebhookSubscription, uuid.UUID(subscription_id))
            assert row is not None
            row.url = LOOPBACK_NAME_URL
            await session.commit()
    else:
        form_body["webhooks"] = {LOOPBACK_NAME_URL: ["forms:created"]}
    created = await client.post("/v1/forms", json=form_body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    if level == "form":
        listing = (await client.get("/v1/webhooks", headers=tenant.headers)).json()["data"]
        [own] = [item for item in listing if item.get("form") == {"id": created.json()["id"]}]
        subscription_id = own["id"]

    delivery = await settled_delivery(client, tenant, subscription_id)
    assert delivery["status"] == "failed"
    assert delivery["attempt_count"] == 1
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("refused: ")
    assert "resolves to 127.0.0.1, a loopback address" in attempt["error"]


async def test_a_name_that_does_not_resolve_is_retried(
    client: httpx.AsyncClient,
    tenant: Tenant,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    """DNS may be down for a moment: that failure is not final."""
    made = await client.post(
        "/v1/webhooks",
        json={"url": "https://93.184.215.14/hook", "events": ["forms:updated"]},
        headers=tenant.headers,
    )
    assert made.status_code == 201, made.text
    async with sessionmaker() as session:
        row = await session.get(WebhookSubscription, uuid.UUID(made.json()["id"]))
        assert row is not None
        row.url = "https://no-such-host.invalid/hook"
        await session.commit()
    form = await make_form(client, tenant)
    _, [delivery] = await publish(sessionmaker, form, ["forms:updated"])
    context = JobContext(sessionmaker, settings, uuid.uuid4(), 1)
    with pytest.raises(DeliveryFailed, match="cannot be resolved"):
        await deliver(context, {"delivery_id": str(delivery.id)})
    listed = await client.get(
        f"/v1/webhooks/{made.json()['id']}/deliveries", headers=tenant.headers
    )
    [shown] = listed.json()["data"]
    assert shown["status"] == "pending" and not shown["attempts"][0]["error"].startswith("refused")

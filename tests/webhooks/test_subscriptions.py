"""/v1/webhooks: a workspace's subscriptions, created, listed, read, changed and deleted, and
every request refused with the reason."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.config import Settings
from formcase.kit.errors import BadRequest
from formcase.webhooks import service
from formcase.webhooks.models import WebhookSubscription
from tests.conftest import Grant, MakeTenant
from tests.helpers import Tenant, assert_error
from tests.webhooks.conftest import Receiver, subscribe

PUBLIC_URL = "https://93.184.215.14/hook"  # a public address: no name to resolve


async def test_create_shows_the_secret_once_and_maps_older_event_names(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.post(
        "/v1/webhooks",
        json={
            "url": PUBLIC_URL,
            "events": ["requests:archived", "responses:completed", "forms:archived"],
        },
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["forms:archived", "responses:completed"]
    assert created["active"] is True
    assert created["workspace"] == {"id": str(tenant.id)}
    assert created["form"] is None
    assert created["disabled_reason"] is None
    assert created["consecutive_failures"] == 0
    assert created["created_at"].endswith("Z")

    read = await client.get(f"/v1/webhooks/{created['id']}", headers=tenant.headers)
    assert read.status_code == 200
    assert "secret" not in read.json()
    assert read.json()["events"] == created["events"]


async def test_list_is_paginated_sorted_and_scoped_to_the_token(
    client: httpx.AsyncClient, make_tenant: MakeTenant
) -> None:
    mine, theirs = await make_tenant(), await make_tenant()
    for path in ("b", "a", "c"):
        response = await client.post(
            "/v1/webhooks",
            json={"url": f"{PUBLIC_URL}/{path}", "events": ["*"]},
            headers=mine.headers,
        )
        assert response.status_code == 201
    await client.post(
        "/v1/webhooks", json={"url": PUBLIC_URL, "events": ["*"]}, headers=theirs.headers
    )
    page = await client.get(
        "/v1/webhooks",
        params={"sort": "url", "page[size]": "2", "page[number]": "1"},
        headers=mine.headers,
    )
    assert page.status_code == 200
    body = page.json()
    assert body["meta"] == {"total_count": 3, "total_pages": 2, "page_size": 2, "current_page": 1}
    assert [item["url"] for item in body["data"]] == [f"{PUBLIC_URL}/a", f"{PUBLIC_URL}/b"]
    assert all("secret" not in item for item in body["data"])
    assert_error(
        await client.get("/v1/webhooks", params={"sort": "secret"}, headers=mine.headers),
        400,
        "Cannot sort by 'secret'",
    )


async def test_patch_changes_and_reactivating_clears_the_failures(
    client: httpx.AsyncClient, tenant: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    created = (
        await client.post(
            "/v1/webhooks", json={"url": PUBLIC_URL, "events": ["*"]}, headers=tenant.headers
        )
    ).json()
    async with sessionmaker() as session:
        row = await session.get(WebhookSubscription, uuid.UUID(created["id"]))
        assert row is not None
        row.active, row.consecutive_failures, row.disabled_reason = False, 5, "Disabled: …"
        await session.commit()
    response = await client.patch(
        f"/v1/webhooks/{created['id']}",
        json={"events": ["requests:created"], "url": PUBLIC_URL + "/v2"},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["events"] == ["forms:created"]
    assert changed["url"] == PUBLIC_URL + "/v2"
    assert changed["active"] is False
    assert changed["disabled_reason"] == "Disabled: …"
    response = await client.patch(
        f"/v1/webhooks/{created['id']}", json={"active": True}, headers=tenant.headers
    )
    assert response.json()["active"] is True
    assert response.json()["disabled_reason"] is None
    assert response.json()["consecutive_failures"] == 0


async def test_delete_then_it_is_gone(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = (
        await client.post(
            "/v1/webhooks", json={"url": PUBLIC_URL, "events": ["*"]}, headers=tenant.headers
        )
    ).json()
    response = await client.delete(f"/v1/webhooks/{created['id']}", headers=tenant.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert_error(
        await client.get(f"/v1/webhooks/{created['id']}", headers=tenant.headers),
        404,
        f"No webhook with id {created['id']}",
    )


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ({"url": "ftp://93.184.215.14/x", "events": ["*"]}, ["must start with https://"]),
        ({"url": "http://93.184.215.14/x", "events": ["*"]}, ["must start with https://"]),
        ({"url": "https:///x", "events": ["*"]}, ["has no host"]),
        ({"url": "https://127.0.0.1/x", "events": ["*"]}, ["127.0.0.1", "loopback", "refused"]),
        ({"url": "https://10.1.2.3/x", "events": ["*"]}, ["private", "ALLOW_PRIVATE"]),
        ({"url": "https://169.254.169.254/latest", "events": ["*"]}, ["metadata"]),
        ({"url": "https://[fd00:ec2::254]/", "events": ["*"]}, ["metadata"]),
        ({"url": "https://[::ffff:127.0.0.1]/", "events": ["*"]}, ["loopback"]),
        ({"url": "https://0.0.0.0/", "events": ["*"]}, ["unspecified"]),
        ({"url": "https://224.0.0.1/", "events": ["*"]}, ["multicast"]),
        ({"url": "https://localhost/x", "events": ["*"]}, ["resolves to", "loopback"]),
        ({"url": "https://no-such-host.invalid/x", "events": ["*"]}, ["cannot be resolved"]),
        ({"url": PUBLIC_URL, "events": []}, ["at least one event"]),
        ({"url": PUBLIC_URL, "events": ["forms:eaten"]}, ["unknown events forms:eaten"]),
        ({"url": PUBLIC_URL}, ["Missing required field 'events'"]),
        ({"url": PUBLIC_URL, "events": ["*"], "colour": "red"}, ["Unknown field 'colour'"]),
        ({"url": PUBLIC_URL, "events": "*"}, ["events"]),
    ],
)
async def test_bad_subscriptions_are_400_with_the_reason(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, object], fragments: list[str]
) -> None:
    assert_error(
        await client.post("/v1/webhooks", json=body, headers=tenant.headers), 400, *fragments
    )


async def test_private_addresses_and_http_are_allowed_by_the_setting(
    client: httpx.AsyncClient, tenant: Tenant, allow_private: None
) -> None:
    for url in ("http://127.0.0.1:9/hook", "https://10.1.2.3/x", "http://localhost/x"):
        response = await client.post(
            "/v1/webhooks", json={"url": url, "events": ["*"]}, headers=tenant.headers
        )
        assert response.status_code == 201, response.text
    assert_error(
        await client.post(
            "/v1/webhooks",
            json={"url": "http://169.254.169.254/", "events": ["*"]},
            headers=tenant.headers,
        ),
        400,
        "metadata",
    )


async def test_patch_checks_the_url_and_events_too(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = (
        await client.post(
            "/v1/webhooks", json={"url": PUBLIC_URL, "events": ["*"]}, headers=tenant.headers
        )
    ).json()
    where = f"/v1/webhooks/{created['id']}"
    assert_error(
        await client.patch(where, json={"url": "https://192.168.1.1/"}, headers=tenant.headers),
        400,
        "private",
    )
    assert_error(
        await client.patch(where, json={"events": ["nope"]}, headers=tenant.headers),
        400,
        "unknown events nope",
    )
    assert_error(await client.patch(where, json={}, headers=tenant.headers), 400, "Nothing")
    assert_error(
        await client.patch(where, json={"active": None}, headers=tenant.headers), 400, "null"
    )


async def test_other_workspace_is_403_and_unknown_is_404(
    client: httpx.AsyncClient, make_tenant: MakeTenant, grant: Grant
) -> None:
    mine, theirs = await make_tenant(), await make_tenant()
    created = (
        await client.post(
            "/v1/webhooks", json={"url": PUBLIC_URL, "events": ["*"]}, headers=theirs.headers
        )
    ).json()
    where = f"/v1/webhooks/{created['id']}"
    for method, path, body in [
        ("GET", where, None),
        ("PATCH", where, {"active": False}),
        ("DELETE", where, None),
        ("POST", where + "/secret", None),
        ("POST", where + "/test", None),
        ("GET", where + "/deliveries", None),
        ("POST", f"{where}/deliveries/{uuid.uuid4()}/redeliver", None),
    ]:
        response = await client.request(method, path, json=body, headers=mine.headers)
        assert_error(response, 403, "workspace this token does not grant")
    unknown = uuid.uuid4()
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method, f"/v1/webhooks/{unknown}", json={"active": True}, headers=mine.headers
        )
        assert_error(response, 404, f"No webhook with id {unknown}")
    # naming a workspace the token does not grant
    assert_error(
        await client.post(
            "/v1/webhooks",
            json={"url": PUBLIC_URL, "events": ["*"], "workspace": {"slug": theirs.slug}},
            headers=mine.headers,
        ),
        403,
        theirs.slug,
    )
    # a token of two workspaces must say which
    both = await grant(mine.slug, theirs.slug)
    assert_error(
        await client.post("/v1/webhooks", json={"url": PUBLIC_URL, "events": ["*"]}, headers=both),
        400,
        "several workspaces",
    )
    response = await client.post(
        "/v1/webhooks",
        json={"url": PUBLIC_URL, "events": ["*"], "company": {"id": str(mine.id)}},
        headers=both,
    )
    assert response.status_code == 201
    assert response.json()["workspace"]["id"] == str(mine.id)


async def test_unknown_delivery_is_404(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, allow_private: None
) -> None:
    created = await subscribe(client, tenant, receiver, "/ok")
    unknown = uuid.uuid4()
    assert_error(
        await client.post(
            f"/v1/webhooks/{created['id']}/deliveries/{unknown}/redeliver", headers=tenant.headers
        ),
        404,
        f"No delivery with id {unknown}",
    )
    assert_error(
        await client.get(
            f"/v1/webhooks/{created['id']}/deliveries",
            params={"status": "lost"},
            headers=tenant.headers,
        ),
        400,
        "'lost'",
    )


def test_form_webhooks_are_checked_without_name_resolution(settings: Settings) -> None:
    with pytest.raises(BadRequest, match="loopback"):
        service.check_form_webhooks({"https://127.0.0.1/x": ["*"]}, settings)
    with pytest.raises(BadRequest, match="this machine"):
        service.check_form_webhooks({"https://localhost/x": ["*"]}, settings)
    with pytest.raises(BadRequest, match="unknown events"):
        service.check_form_webhooks({"https://hooks.example/x": ["nope"]}, settings)
    checked = service.check_form_webhooks(
        {"https://hooks.example/x": ["requests:updated"]}, settings
    )
    assert checked == {"https://hooks.example/x": ["forms:updated"]}

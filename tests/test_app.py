"""What every endpoint shares: OpenAPI, docs, health, JSON errors for unknown routes."""

from __future__ import annotations

from pathlib import Path

import httpx

from formcase.app import create_app
from formcase.config import Settings
from tests.helpers import Tenant, assert_error


async def test_openapi_describes_the_api(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.1")
    for path in (
        "/v1/forms",
        "/v1/forms/{form_id}",
        "/v1/forms/count",
        "/v1/form_templates",
        "/v1/form_templates/{slug}/steps",
        "/v1/workspaces",
        "/v1/companies",
    ):
        assert path in spec["paths"], path
    form = spec["components"]["schemas"]["FormOut"]
    assert {"links", "responses", "notifications", "external_args"} <= set(form["properties"])
    parameters = {p["name"] for p in spec["paths"]["/v1/forms"]["get"]["parameters"]}
    assert {
        "page[number]",
        "page[size]",
        "flow[slug]",
        "user[email]",
        "filter",
        "sort",
    } <= parameters
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "rate_limit_store": "ok"}


async def test_unknown_routes_and_methods_are_json(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    assert_error(await client.get("/v1/nothing", headers=tenant.headers), 404, "No such endpoint")
    assert_error(await client.delete("/v1/forms", headers=tenant.headers), 405)


async def test_readyz_says_what_is_not_ready(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, database_url=None))  # never migrated
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = await client.get("/readyz")
            assert_error(ready, 503, "database at migration None")
            assert (await client.get("/healthz")).status_code == 200

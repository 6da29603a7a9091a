"""Case data, schema values and a step's data that cannot be stored: a 400 (413 for size)
naming the field, and nothing changes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.cases.test_cases_api import template_id
from tests.forms.test_hostile_values import HUGE, SURROGATE, post_text
from tests.helpers import Tenant, assert_error

FIELDS = (
    '[{"key": "n", "type": "number", "name": "N", "value": %s},'
    ' {"key": "t", "type": "text", "name": "T"}]'
)


async def case_count(client: httpx.AsyncClient, tenant: Tenant) -> int:
    count: int = (await client.get("/v1/cases/count", headers=tenant.headers)).json()["count"]
    return count


@pytest.mark.parametrize(
    ("schema", "fragments"),
    [
        (FIELDS % HUGE, ["schema[0].value", "64-bit"]),
        (FIELDS % SURROGATE, ["schema[0].value", "surrogate"]),
    ],
)
async def test_create_refuses_schema_values(
    client: httpx.AsyncClient, claims: Tenant, schema: str, fragments: list[str]
) -> None:
    body = f'{{"title": "Ad hoc", "schema": {schema}}}'
    assert_error(await post_text(client, "/v1/cases", body, claims.headers), 400, *fragments)
    assert await case_count(client, claims) == 0


async def ad_hoc(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    body = '{"title": "Ad hoc", "schema": %s}' % (FIELDS % 1)
    response = await post_text(client, "/v1/cases", body, tenant.headers)
    assert response.status_code == 200, response.text
    case: dict[str, Any] = response.json()
    return case


@pytest.mark.parametrize(
    ("data", "status", "fragments"),
    [
        (f'{{"n": {HUGE}}}', 400, ["data.n", "64-bit"]),
        (f'{{"t": {SURROGATE}}}', 400, ["data.t", "surrogate"]),
        ('{"t": "%s"}' % ("x" * 70_000), 413, ["'data'", "65536 bytes"]),
    ],
)
async def test_case_data_that_cannot_be_stored(
    client: httpx.AsyncClient, claims: Tenant, data: str, status: int, fragments: list[str]
) -> None:
    case = await ad_hoc(client, claims)
    url = f"/v1/cases/{case['id']}"
    response = await post_text(client, f"{url}/data", f'{{"data": {data}}}', claims.headers)
    assert_error(response, status, *fragments)
    fetched = (await client.get(url, headers=claims.headers)).json()
    assert fetched["schema"] == case["schema"]


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        (f'{{"x": {HUGE}}}', ["data.x", "64-bit"]),
        (f'{{"x": [{SURROGATE}]}}', ["data.x[0]", "surrogate"]),
    ],
)
async def test_step_data_that_cannot_be_stored(
    client: httpx.AsyncClient, claims: Tenant, data: str, fragments: list[str]
) -> None:
    body = '{"template": {"id": "%s"}, "contacts": [{"email": "jo@client.example"}]}'
    created = await post_text(
        client, "/v1/cases", body % await template_id(client, claims), claims.headers
    )
    url = f"/v1/cases/{created.json()['id']}"
    response = await post_text(
        client, f"{url}/start/welcome", f'{{"data": {data}}}', claims.headers
    )
    assert_error(response, 400, *fragments)
    steps = (await client.get(url, headers=claims.headers)).json()["steps"]
    assert {s["key"]: s["status"] for s in steps}["welcome"] == "available"


async def test_an_error_quoting_a_surrogate_writes_it_out(
    client: httpx.AsyncClient, claims: Tenant
) -> None:
    """A message that quotes what was sent stays UTF-8: the surrogate is written as text."""
    response = await post_text(
        client, "/v1/cases", '{"title": "x", "status": "\\ud800"}', claims.headers
    )
    body = assert_error(response, 400, "Field 'status'", "'\\ud800' is not a status")
    assert body["errors"][0]["detail"] == body["message"]
    assert await case_count(client, claims) == 0

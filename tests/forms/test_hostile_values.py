"""Values a database or the JSON encoder cannot take, sent where forms store or read them: each
is a 400 (413 for size) naming the field, and nothing is stored — never a 500."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import MakeTenant
from tests.helpers import Tenant, assert_error

SURVEY = Path(__file__).parents[1] / "fill" / "survey.yaml"
HUGE = 2**70  # past 64 bits
SURROGATE = '"\\ud800"'  # a lone UTF-16 surrogate, as JSON text


@pytest.fixture
async def surveyed(make_tenant: MakeTenant) -> Tenant:
    return await make_tenant(template_files=[SURVEY])


async def post_text(
    client: httpx.AsyncClient, path: str, text: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST JSON written by hand: what a client's encoder would refuse to write."""
    return await client.post(
        path, content=text.encode(), headers={**(headers or {}), "Content-Type": "application/json"}
    )


async def form_count(client: httpx.AsyncClient, tenant: Tenant) -> int:
    response = await client.get("/v1/forms/count", headers=tenant.headers)
    assert response.status_code == 200, response.text
    count: int = response.json()["count"]
    return count


BODY = '{"flow": {"slug": "survey"}, %s}'


@pytest.mark.parametrize(
    ("fields", "status", "fragments"),
    [
        (
            f'"external_args": {{"crm": {{"ids": [1, {HUGE}]}}}}',
            400,
            ["external_args.crm.ids[1]", "64-bit"],
        ),
        (f'"data": {{"age": {HUGE}}}', 400, ["data.age", "64-bit"]),
        (f'"external_args": {{"crm": {SURROGATE}}}', 400, ["external_args.crm", "surrogate"]),
        (f'"external_args": {{{SURROGATE}: 1}}', 400, ["'external_args' has a key", "surrogate"]),
        ('"external_args": {"a": NaN}', 400, ["external_args.a", "NaN"]),
        (
            '"external_args": ' + '{"a": ' * 40 + "1" + "}" * 40,
            400,
            ["external_args.a.a", "more than 32 levels"],
        ),
        (
            '"external_args": {"notes": "%s"}' % ("x" * 70_000),
            413,
            ["'external_args'", "limit is 65536 bytes", "max_json_value_bytes"],
        ),
        ('"active_from": "9999-12-31T23:59:59-01:00"', 400, ["active_from", "outside the dates"]),
        ('"active_until": "0001-01-01T00:00:00+01:00"', 400, ["active_until", "outside the dates"]),
        (
            f'"webhooks": {{"https://hooks.example/{SURROGATE[1:-1]}": ["forms:completed"]}}',
            400,
            ["'webhooks' has a key", "surrogate"],
        ),
    ],
)
async def test_create_refuses_what_cannot_be_stored(
    client: httpx.AsyncClient,
    surveyed: Tenant,
    fields: str,
    status: int,
    fragments: list[str],
) -> None:
    response = await post_text(client, "/v1/forms", BODY % fields, surveyed.headers)
    assert_error(response, status, *fragments)
    assert await form_count(client, surveyed) == 0


async def test_the_limits_leave_room(client: httpx.AsyncClient, surveyed: Tenant) -> None:
    """What is inside the bounds is stored and read back as sent."""
    external = {
        "big": 2**63 - 1,
        "small": -(2**63),
        "deep": json.loads('{"a": ' * 31 + "1" + "}" * 31),
    }
    external["text"] = "é" * 20_000  # 40,000 bytes of UTF-8
    response = await client.post(
        "/v1/forms",
        json={
            "flow": {"slug": "survey"},
            "external_args": external,
            "active_from": "9999-12-30T00:00:00Z",
        },
        headers=surveyed.headers,
    )
    assert response.status_code == 201, response.text
    form = response.json()
    assert form["external_args"] == external
    # The default expiry (60 days later) would be past the calendar's end: it stops there.
    assert form["active_until"] == "9999-12-31T23:59:59Z"
    fetched = await client.get(f"/v1/forms/{form['id']}", headers=surveyed.headers)
    assert fetched.json()["external_args"] == external


async def test_patch_refuses_a_date_past_the_calendar(
    client: httpx.AsyncClient, surveyed: Tenant
) -> None:
    created = await client.post(
        "/v1/forms", json={"flow": {"slug": "survey"}}, headers=surveyed.headers
    )
    form = created.json()
    response = await client.patch(
        f"/v1/forms/{form['id']}",
        json={"active_until": "9999-12-31T23:59:59-01:00"},
        headers=surveyed.headers,
    )
    assert_error(response, 400, "active_until", "outside the dates")
    fetched = await client.get(f"/v1/forms/{form['id']}", headers=surveyed.headers)
    assert fetched.json()["active_until"] == form["active_until"]


def _filter(document: Any) -> dict[str, str]:
    return {"filter": document if isinstance(document, str) else json.dumps(document)}


@pytest.mark.parametrize(
    ("path", "params", "fragments"),
    [
        (
            "/v1/forms",
            _filter({"created_at": {"$gt": "9999-12-31T23:59:59-01:00"}}),
            ["created_at", "outside the dates"],
        ),
        (
            "/v1/forms/count",
            _filter({"created_at": {"$lt": "0001-01-01T00:00:00+01:00"}}),
            ["created_at", "outside the dates"],
        ),
        ("/v1/forms", _filter({'external_args."x': "1"}), ['external_args."x', "not a plain path"]),
        (
            "/v1/forms",
            _filter({"external_args": {'"x': "1"}}),
            ['external_args."x', "not a plain path"],
        ),
        (
            "/v1/forms/count",
            {"group-by": 'external_args."x'},
            ['external_args."x', "not a plain path"],
        ),
        ("/v1/forms/count", {"group-by": "data.a b"}, ["data.a b", "not a plain path"]),
        (
            "/v1/forms",
            _filter('{"a":' * 2000 + "1" + "}" * 2000),
            ["filter", "more than 32 levels"],
        ),
        (
            "/v1/forms",
            _filter({"data": {"a": json.loads('{"b": ' * 40 + "1" + "}" * 40)}}),
            ["filter", "more than 32 levels"],
        ),
        (
            "/v1/forms",
            _filter({f"data.k{i}": "1" for i in range(1000)}),
            ["filter", "1000 conditions", "at most 100"],
        ),
        ("/v1/forms/count", _filter({f"data.k{i}": "1" for i in range(101)}), ["101 conditions"]),
        (
            "/v1/forms",
            _filter({"data.k": {"$in": "1," * 1001}}),
            ["data.k", "1001 values", "at most 1000"],
        ),
        ("/v1/forms", _filter('{"data.name": "\\ud800"}'), ["filter", "surrogate"]),
    ],
)
async def test_filters_refuse_what_no_database_takes(
    client: httpx.AsyncClient,
    surveyed: Tenant,
    path: str,
    params: dict[str, str],
    fragments: list[str],
) -> None:
    await client.post(
        "/v1/forms",
        json={"flow": {"slug": "survey"}, "external_args": {"x": "1"}, "data": {"name": "Ann"}},
        headers=surveyed.headers,
    )
    response = await client.get(path, params=params, headers=surveyed.headers)
    assert_error(response, 400, *fragments)


async def test_filters_inside_the_bounds_work(client: httpx.AsyncClient, surveyed: Tenant) -> None:
    await client.post(
        "/v1/forms",
        json={"flow": {"slug": "survey"}, "external_args": {"crm-id": "7", "n": {"m": 1}}},
        headers=surveyed.headers,
    )
    conditions: dict[str, Any] = {f"data.k{i}": {"$ne": "x"} for i in range(98)}
    conditions["external_args.crm-id"] = "7"
    conditions["external_args.n.m"] = {"$ge": 1}
    response = await client.get(
        "/v1/forms/count", params=_filter(conditions), headers=surveyed.headers
    )
    assert response.json() == {"count": 1}
    late = _filter({"created_at": {"$lt": "9999-12-31T23:59:59Z"}})
    assert (await client.get("/v1/forms/count", params=late, headers=surveyed.headers)).json() == {
        "count": 1
    }
    grouped = await client.get(
        "/v1/forms/count", params={"group-by": "external_args.crm-id"}, headers=surveyed.headers
    )
    assert grouped.json()["by"] == {"external_args.crm-id": {"7": 1}}


async def test_webhook_url_with_a_surrogate(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for url in ("https://x\\ud800.example/", "https://hooks.example/\\ud800"):
        response = await post_text(
            client, "/v1/webhooks", f'{{"url": "{url}", "events": ["*"]}}', tenant.headers
        )
        assert_error(response, 400, "'url'", "surrogate")
    listed = await client.get("/v1/webhooks", headers=tenant.headers)
    assert listed.json()["data"] == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/forms", '{"flow": {"slug": "survey"}, "workspace": {"slug": "\\ud800"}}'),
        (
            "/v1/webhooks",
            '{"url": "https://x.example/", "events": ["*"], "workspace": {"slug": "\\ud800"}}',
        ),
    ],
)
async def test_a_workspace_slug_with_a_surrogate(
    client: httpx.AsyncClient, surveyed: Tenant, path: str, body: str
) -> None:
    assert_error(await post_text(client, path, body, surveyed.headers), 400, "workspace.slug")
    assert await form_count(client, surveyed) == 0

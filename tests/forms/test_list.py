"""GET /v1/forms, /v1/requests and /v1/forms/count: every filter, both JSON filter syntaxes,
pagination, sorting, grouping — and clear 400s for what is wrong."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from formcase.forms import filters as forms_filters
from formcase.forms import repository as forms_repository
from formcase.forms.schemas import FormOut
from formcase.kit.listing import Paginated
from tests.helpers import CountedPages, Tenant, assert_error

ForceStatus = Callable[[str, str], Awaitable[None]]


@pytest.fixture
async def seeded(
    client: httpx.AsyncClient, tenant: Tenant, force_status: ForceStatus
) -> dict[str, str]:
    """Six forms of two templates in four statuses, one archived; returns name -> id."""
    specs: dict[str, dict[str, Any]] = {
        "ann": {
            "user": {"given_name": "Ann", "family_name": "Smith", "email": "ann@x.example"},
            "external_args": {"crm_id": "1", "tier": "gold"},
            "data": {"preferred_channel": "email"},
            "owner": {"email": tenant.owner_email},
        },
        "bob": {
            "user": {
                "given_name": "Bob",
                "family_name": "Jones",
                "email": "bob@x.example",
                "phone": "+32470000001",
            },
            "external_args": {"crm_id": "2"},
            "data": {"preferred_channel": "phone"},
        },
        "cid": {"user": {"given_name": "Cid", "family_name": "Smith"}, "draft": True},
        "dee": {
            "flow": {"slug": "client-onboarding"},
            "user": {"given_name": "Dee"},
            "data": {"client_type": "company"},
        },
        "eve": {"user": {"given_name": "Eve"}, "data": {"preferred_channel": "email"}},
        "fay": {"user": {"given_name": "Fay"}},
    }
    ids = {}
    for name, spec in specs.items():
        body = {"flow": {"slug": "contact-details"}, **spec}
        response = await client.post("/v1/forms", json=body, headers=tenant.headers)
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    await force_status(ids["eve"], "completed")
    await force_status(ids["dee"], "processed")
    await client.patch(f"/v1/forms/{ids['fay']}", json={"archived": True}, headers=tenant.headers)
    return ids


async def names(
    client: httpx.AsyncClient, tenant: Tenant, seeded: dict[str, str], query: str
) -> list[str]:
    response = await client.get(f"/v1/forms?{query}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    by_id = {value: key for key, value in seeded.items()}
    return sorted(by_id[item["id"]] for item in response.json()["data"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["ann", "bob", "cid", "dee", "eve"]),
        ("archived=true", ["fay"]),
        ("archived=false", ["ann", "bob", "cid", "dee", "eve"]),
        ("status=pending", ["ann", "bob"]),
        ("status=pending,draft", ["ann", "bob", "cid"]),
        ("status=completed&status=processed", ["dee", "eve"]),
        ("flow[slug]=client-onboarding", ["dee"]),
        ("flow[slug]=client-onboarding&flow[slug]=contact-details&status=pending", ["ann", "bob"]),
        ("flow[slug][]=client-onboarding", ["dee"]),
        ("user[family_name]=Smith", ["ann", "cid"]),
        ("user[given_name]=Bob", ["bob"]),
        ("user[email]=ANN@x.example", ["ann"]),
        ("user[phone]=%2B32470000001", ["bob"]),
        ("completed=true", ["dee", "eve"]),
        ("completed=false", ["ann", "bob", "cid"]),
        ("processed=true", ["dee"]),
        ("active=true", ["ann", "bob"]),
        ("active=false", ["cid", "dee", "eve"]),
    ],
)
async def test_bracket_filters(
    client: httpx.AsyncClient,
    tenant: Tenant,
    seeded: dict[str, str],
    query: str,
    expected: list[str],
) -> None:
    assert await names(client, tenant, seeded, query) == expected


async def test_owner_and_workspace_filters(
    client: httpx.AsyncClient, tenant: Tenant, seeded: dict[str, str]
) -> None:
    assert await names(client, tenant, seeded, f"owner[email]={tenant.owner_email}") == ["ann"]
    assert len(await names(client, tenant, seeded, f"workspace[slug]={tenant.slug}")) == 5
    assert len(await names(client, tenant, seeded, f"workspace[id]={tenant.id}")) == 5
    other = await client.get("/v1/forms?workspace[slug]=someone-else", headers=tenant.headers)
    assert_error(other, 403, "someone-else")


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"attributes": {"status": {"$ne": "draft"}}}, ["ann", "bob", "dee", "eve"]),
        ({"attributes": {"status": {"$in": ["draft", "completed"]}}}, ["cid", "eve"]),
        ({"attributes": {"status": {"$nin": ["draft", "completed", "processed"]}}}, ["ann", "bob"]),
        (
            {"attributes": {"created_at": {"$gt": "2000-01-01"}, "status": {"$eq": "pending"}}},
            ["ann", "bob"],
        ),
        ({"attributes": {"created_at": {"$lt": "2000-01-01"}}}, []),
        (
            {"attributes": {"created_at": {"$ge": "2000-01-01T00:00:00Z", "$le": "2999-01-01"}}},
            ["ann", "bob", "cid", "dee", "eve"],
        ),
        ({"attributes": {"archived": {"$eq": True}}}, ["fay"]),
        (
            {"relationships": {"user": {"attributes": {"family_name": {"$eq": "Smith"}}}}},
            ["ann", "cid"],
        ),
        (
            {"relationships": {"flow": {"attributes": {"slug": {"$eq": "client-onboarding"}}}}},
            ["dee"],
        ),
        ({"attributes": {"data.preferred_channel": {"$eq": "email"}}}, ["ann", "eve"]),
        ({"attributes": {"external_args.crm_id": {"$in": ["1", "2"]}}}, ["ann", "bob"]),
        # the older implicit-equality shape
        ({"flow": {"slug": "contact-details"}, "completed": False}, ["ann", "bob", "cid"]),
        ({"user": {"family_name": "Smith"}, "active": True}, ["ann"]),
        ({"external_args": {"crm_id": "2"}}, ["bob"]),
        ({"external_args": {"tier": "gold", "crm_id": "1"}}, ["ann"]),
        ({"data": {"preferred_channel": "phone"}}, ["bob"]),
        ({"archived": True}, ["fay"]),
        ({"processed": True}, ["dee"]),
    ],
)
async def test_json_filters(
    client: httpx.AsyncClient,
    tenant: Tenant,
    seeded: dict[str, str],
    document: dict[str, Any],
    expected: list[str],
) -> None:
    query = httpx.QueryParams({"filter": json.dumps(document)})
    assert await names(client, tenant, seeded, str(query)) == expected


async def test_json_filter_overrides_bracket_filters(
    client: httpx.AsyncClient, tenant: Tenant, seeded: dict[str, str]
) -> None:
    query = httpx.QueryParams({"status": "draft", "filter": json.dumps({"processed": True})})
    assert await names(client, tenant, seeded, str(query)) == ["dee"]


async def test_company_slug_in_the_older_filter(
    client: httpx.AsyncClient, tenant: Tenant, seeded: dict[str, str]
) -> None:
    query = httpx.QueryParams({"filter": json.dumps({"company": {"slug": tenant.slug}})})
    assert len(await names(client, tenant, seeded, str(query))) == 5


@pytest.mark.parametrize(
    ("query", "fragments"),
    [
        ({"filter": "{nope"}, ["'filter' is not valid JSON"]),
        ({"filter": "[1]"}, ["JSON object"]),
        (
            {"filter": json.dumps({"attributes": {"colour": {"$eq": "red"}}})},
            ["Cannot filter on 'colour'", "status"],
        ),
        (
            {"filter": json.dumps({"attributes": {"status": {"$like": "p%"}}})},
            ["Unknown filter operator '$like'"],
        ),
        (
            {"filter": json.dumps({"attributes": {"status": {"$eq": "lost"}}})},
            ["'lost' is not one of draft"],
        ),
        (
            {"filter": json.dumps({"attributes": {"created_at": {"$gt": "yesterday"}}})},
            ["created_at", "ISO 8601"],
        ),
        ({"filter": json.dumps({"attributes": {"status": {"$gt": "draft"}}})}, ["$gt"]),
        ({"filter": json.dumps({"attributes": {"status": {"$in": []}}})}, ["non-empty list"]),
        ({"filter": json.dumps({"relationships": {"owner": {"email": "x"}}})}, ["attributes"]),
        ({"filter": json.dumps({"archived": "perhaps"})}, ["true or false"]),
        ({"filter": json.dumps({"user": {"id": {"$eq": "x"}}})}, ["Cannot filter on 'user.id'"]),
        ({"status": "lost"}, ["'lost' is not one of"]),
        ({"archived": "perhaps"}, ["archived"]),
        ({"workspace[id]": "nope"}, ["workspace[id]"]),
        ({"page[size]": "101"}, ["page[size]"]),
        ({"page[number]": "0"}, ["page[number]"]),
        ({"page[number]": str(10**19)}, ["page[number]"]),
        ({"sort": "colour"}, ["Cannot sort by 'colour'"]),
        ({"colour": "red"}, ["Unknown query parameter 'colour'"]),
    ],
)
async def test_bad_queries_get_400(
    client: httpx.AsyncClient, tenant: Tenant, query: dict[str, str], fragments: list[str]
) -> None:
    response = await client.get("/v1/forms", params=query, headers=tenant.headers)
    assert_error(response, 400, *fragments)


async def test_pagination_and_sorting(
    client: httpx.AsyncClient, tenant: Tenant, seeded: dict[str, str]
) -> None:
    newest_first = [seeded[n] for n in ["eve", "dee", "cid", "bob", "ann"]]
    page1 = (await client.get("/v1/forms?page[size]=2", headers=tenant.headers)).json()
    assert page1["meta"] == {"total_count": 5, "total_pages": 3, "page_size": 2, "current_page": 1}
    page3 = (
        await client.get("/v1/forms?page[size]=2&page[number]=3", headers=tenant.headers)
    ).json()
    assert [f["id"] for f in page1["data"]] == newest_first[:2]
    assert [f["id"] for f in page3["data"]] == newest_first[4:]
    assert page3["meta"] == {"total_count": 5, "total_pages": 3, "page_size": 2, "current_page": 3}
    beyond = (await client.get("/v1/forms?page[number]=9", headers=tenant.headers)).json()
    assert beyond["data"] == [] and beyond["meta"]["total_count"] == 5
    oldest = (
        await client.get("/v1/forms?sort=created_at&page[size]=1", headers=tenant.headers)
    ).json()
    assert oldest["data"][0]["id"] == seeded["ann"]
    plus = (
        await client.get(
            "/v1/forms", params={"sort": "+created_at", "page[size]": "1"}, headers=tenant.headers
        )
    ).json()
    assert plus["data"][0]["id"] == seeded["ann"]
    offset = (
        await client.get("/v1/forms?page[offset]=1&page[limit]=2", headers=tenant.headers)
    ).json()
    assert [f["id"] for f in offset["data"]] == newest_first[1:3]
    by_update = (
        await client.get(
            "/v1/forms?sort=-updated_at&page[size]=1&archived=true", headers=tenant.headers
        )
    ).json()
    assert by_update["data"][0]["id"] == seeded["fay"]


async def test_a_full_page_brings_its_total_from_the_tallies(
    client: httpx.AsyncClient,
    tenant: Tenant,
    seeded: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full page whose filters the tallies can count carries that count in its own
    statement: no count query. Filters they cannot count (a name, the clock), and a page past
    the end, ask for a count. Every page says 2 either way."""
    pages = CountedPages()
    monkeypatch.setattr(forms_repository, "count", pages.recording(forms_repository.count))
    for query, pages_that_count in [
        ("status=pending", [3]),
        ("completed=true&flow[slug]=contact-details,client-onboarding", [3]),
        ("user[family_name]=Smith", [1, 2, 3]),
        ("active=true", [1, 2, 3]),
    ]:
        assert await pages.walk(client, f"/v1/forms?{query}", tenant) == pages_that_count, query


async def test_listed_forms_have_the_documented_shape(
    client: httpx.AsyncClient, tenant: Tenant, seeded: dict[str, str]
) -> None:
    page = (await client.get("/v1/forms?archived=true", headers=tenant.headers)).json()
    validated = Paginated[FormOut].model_validate(page)
    assert validated.model_dump(mode="json") == page


async def test_requests_is_a_bare_array(
    client: httpx.AsyncClient, tenant: Tenant, seeded: dict[str, str]
) -> None:
    response = await client.get("/v1/requests?status=pending", headers=tenant.headers)
    assert isinstance(response.json(), list)
    assert {f["id"] for f in response.json()} == {seeded["ann"], seeded["bob"]}


async def test_count_and_group_by(
    client: httpx.AsyncClient, tenant: Tenant, seeded: dict[str, str]
) -> None:
    plain = (await client.get("/v1/forms/count", headers=tenant.headers)).json()
    assert plain == {"count": 5}
    grouped = (await client.get("/v1/forms/count?group-by=status", headers=tenant.headers)).json()
    assert grouped == {
        "count": 5,
        "by": {"status": {"pending": 2, "draft": 1, "completed": 1, "processed": 1}},
    }
    by_channel = (
        await client.get(
            "/v1/forms/count?group_by=data.preferred_channel&flow[slug]=contact-details",
            headers=tenant.headers,
        )
    ).json()
    assert by_channel == {
        "count": 4,
        "by": {"data.preferred_channel": {"email": 2, "phone": 1, "null": 1}},
    }
    two = (
        await client.get(
            "/v1/forms/count?group-by=user.family_name,status&status=pending",
            headers=tenant.headers,
        )
    ).json()
    assert two["by"]["user.family_name"] == {"Smith": 1, "Jones": 1}
    assert two["by"]["status"] == {"pending": 2}
    archived = (await client.get("/v1/forms/count?archived=true", headers=tenant.headers)).json()
    assert archived == {"count": 1}
    legacy = (await client.get("/v1/requests/count?completed=true", headers=tenant.headers)).json()
    assert legacy == {"count": 2}
    bad = await client.get("/v1/forms/count?group-by=colour", headers=tenant.headers)
    assert_error(bad, 400, "Cannot group by 'colour'")


async def test_lists_only_the_tokens_workspaces(
    client: httpx.AsyncClient, tenant: Tenant, seeded: dict[str, str], make_tenant: Any
) -> None:
    stranger = await make_tenant()
    assert (await client.get("/v1/forms", headers=stranger.headers)).json()["data"] == []
    assert (await client.get("/v1/forms/count", headers=stranger.headers)).json() == {"count": 0}


async def test_json_values_compare_by_type_and_never_fail(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    async def create(flow: str, data: dict[str, Any]) -> str:
        response = await client.post(
            "/v1/forms", json={"flow": {"slug": flow}, "data": data}, headers=tenant.headers
        )
        assert response.status_code == 201, response.text
        form_id: str = response.json()["id"]
        return form_id

    small = await create("client-onboarding", {"employees": 5})
    large = await create("client-onboarding", {"employees": 50})
    agreed = await create("contact-details", {"consent": True, "given_name": "Zoe"})
    await create("contact-details", {"consent": False, "given_name": "Yan"})

    async def ids(document: dict[str, Any]) -> set[str]:
        response = await client.get(
            "/v1/forms", params={"filter": json.dumps(document)}, headers=tenant.headers
        )
        assert response.status_code == 200, response.text
        return {form["id"] for form in response.json()["data"]}

    assert await ids({"attributes": {"data.employees": {"$gt": 10}}}) == {large}
    assert await ids({"attributes": {"data.employees": {"$lt": 10}}}) == {small}
    assert await ids({"attributes": {"data.employees": {"$in": [5, 50]}}}) == {small, large}
    assert await ids({"attributes": {"data.consent": {"$eq": True}}}) == {agreed}
    # A number compared with text, a boolean with text: no match, and no error.
    assert await ids({"attributes": {"data.given_name": {"$gt": 3}}}) == set()
    assert await ids({"attributes": {"data.given_name": {"$eq": True}}}) == set()


async def test_active_reads_the_clock_of_each_request(
    client: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `active` clause is built once and kept (kit.filters); the time it compares with
    is bound per request, so a form that expired in between is no longer active."""
    expires = datetime(2031, 1, 1, tzinfo=UTC)
    body = {"flow": {"slug": "contact-details"}, "active_until": expires.isoformat()}
    response = await client.post("/v1/forms", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    form_id = response.json()["id"]

    async def active_ids() -> list[str]:
        listed = await client.get("/v1/forms?active=true", headers=tenant.headers)
        assert listed.status_code == 200, listed.text
        return [item["id"] for item in listed.json()["data"]]

    assert await active_ids() == [form_id]
    monkeypatch.setattr(forms_filters, "utcnow", lambda: expires + timedelta(seconds=1))
    assert await active_ids() == []
    monkeypatch.setattr(forms_filters, "utcnow", lambda: expires - timedelta(seconds=1))
    assert await active_ids() == [form_id]

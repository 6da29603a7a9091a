"""GET /v1/cases and /v1/cases/count: every filter of seeds/04-list-cases.txt, sorting, the
JSON filter, pagination, and their errors."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from formcase.app import create_app
from formcase.cases import repository
from formcase.config import Settings
from tests.cases.test_cases_api import new_case, template_id
from tests.conftest import Grant, MakeTenant
from tests.helpers import CountedPages, Tenant, assert_error


@pytest.fixture
async def portfolio(client: httpx.AsyncClient, claims: Tenant) -> dict[str, dict[str, Any]]:
    """Four cases with different statuses, owners, contacts and references."""
    made = {
        "ann": await new_case(
            client,
            claims,
            title="Ann's claim",
            reference="REF-A",
            contacts=[{"email": "ann@x.example", "given_name": "Ann", "family_name": "Smith"}],
            owner={"email": claims.owner_email},
        ),
        "bob": await new_case(
            client,
            claims,
            title="Bob's claim",
            reference="REF-B",
            status="under_review",
            waiting_for="owner",
            contacts=[
                {"email": "bob@x.example", "given_name": "Bob", "family_name": "Jones"},
                {"key": "broker", "email": "broker@x.example", "family_name": "Smith"},
            ],
        ),
        "cid": await new_case(
            client,
            claims,
            title="Cid's claim",
            reference="REF-C",
            status="under_review",
            waiting_for="contact",
        ),
        "old": await new_case(client, claims, title="Zed's claim", reference="REF-Z"),
    }
    archived = await client.patch(
        f"/v1/cases/{made['old']['id']}", json={"archived": True}, headers=claims.headers
    )
    assert archived.status_code == 200
    return made


async def titles(client: httpx.AsyncClient, tenant: Tenant, query: str) -> list[str]:
    response = await client.get(f"/v1/cases?{query}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    # the same filters; a count has no order or pages
    filters = "&".join(p for p in query.split("&") if not p.startswith(("sort=", "page[")))
    count = await client.get(f"/v1/cases/count?{filters}", headers=tenant.headers)
    body = response.json()
    assert count.json() == {"count": body["meta"]["total_count"]}
    return [case["title"] for case in body["data"]]


async def test_a_listed_case_is_the_case_without_its_details(
    client: httpx.AsyncClient, claims: Tenant, portfolio: dict[str, dict[str, Any]]
) -> None:
    # (A list takes the contacts from cases.contacts_json, the full case from their rows.)
    bare = await client.post("/v1/cases", json={"title": "No template"}, headers=claims.headers)
    assert bare.status_code == 200, bare.text
    listed = []
    for query in ("archived=false", "archived=true"):
        answer = await client.get(f"/v1/cases?{query}", headers=claims.headers)
        listed += answer.json()["data"]
    # owner or not, archived or not, a template or not
    assert len(listed) == 5
    assert {case["owner"] is None for case in listed} == {True, False}
    assert {case["archived_at"] is None for case in listed} == {True, False}
    assert {case["template"] is None for case in listed} == {True, False}
    for case in listed:
        full = (await client.get(f"/v1/cases/{case['id']}", headers=claims.headers)).json()
        shown = {k: v for k, v in full.items() if k not in ("steps", "schema", "statuses")}
        assert case == shown
        assert list(case) == list(shown)  # the keys in the same order too
    [case] = [case for case in listed if case["reference"] == "REF-B"]
    assert [c["key"] for c in case["contacts"]] == ["main", "broker"]
    assert case["contacts"][1] == {
        "id": case["contacts"][1]["id"],
        "key": "broker",
        "name": None,
        "email": "broker@x.example",
        "given_name": None,
        "family_name": "Smith",
        "phone": None,
        "main": False,
    }


async def test_every_filter(
    client: httpx.AsyncClient, claims: Tenant, portfolio: dict[str, dict[str, Any]]
) -> None:
    template = await template_id(client, claims)
    cases = {
        "": ["Cid's claim", "Bob's claim", "Ann's claim"],  # newest first, archived left out
        "archived=true": ["Zed's claim"],
        "archived=false": ["Cid's claim", "Bob's claim", "Ann's claim"],
        f"template[id]={template}": ["Cid's claim", "Bob's claim", "Ann's claim"],
        "status=under_review": ["Cid's claim", "Bob's claim"],
        "parent_status=in_progress": ["Cid's claim", "Bob's claim"],
        "parent_status=draft": ["Ann's claim"],
        "parent_status=in_progress&waiting_for=owner": ["Bob's claim"],
        "waiting_for=none": ["Ann's claim"],
        "reference=REF-B": ["Bob's claim"],
        f"owner[email]={claims.owner_email.upper()}": ["Ann's claim"],
        f"owner[id]={portfolio['ann']['owner']['id']}": ["Ann's claim"],
        f"workspace[slug]={claims.slug}": ["Cid's claim", "Bob's claim", "Ann's claim"],
        f"workspace[id]={claims.id}": ["Cid's claim", "Bob's claim", "Ann's claim"],
        "contact[email]=BOB@x.example": ["Bob's claim"],
        "contact[email]=broker@x.example": ["Bob's claim"],  # any of the case's contacts
        "contact[given_name]=Ann": ["Ann's claim"],
        "contact[family_name]=Smith": ["Bob's claim", "Ann's claim"],
        "contact[email]=nobody@x.example": [],
        "sort=title": ["Ann's claim", "Bob's claim", "Cid's claim"],
        "sort=-reference": ["Cid's claim", "Bob's claim", "Ann's claim"],
        "sort=created_at": ["Ann's claim", "Bob's claim", "Cid's claim"],
        "sort=-updated_at&page[size]=1&page[number]=2": ["Bob's claim"],
    }
    for query, expected in cases.items():
        assert await titles(client, claims, query) == expected, query


async def test_page_meta_on_full_short_last_and_past_the_end_pages(
    client: httpx.AsyncClient,
    claims: Tenant,
    portfolio: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three cases match. A page that is not full gives the total itself; the others ask
    the count: every page says the same total."""
    for size, number, titles_on_page in [
        (2, 1, ["Cid's claim", "Bob's claim"]),  # full
        (2, 2, ["Ann's claim"]),  # short: the last
        (3, 1, ["Cid's claim", "Bob's claim", "Ann's claim"]),  # full and the last
        (1, 3, ["Ann's claim"]),  # full and the last
        (2, 3, []),  # past the end
        (100, 10**9, []),  # the furthest page: an offset of 99,999,999,900, written in the SQL
        (100, 1, ["Cid's claim", "Bob's claim", "Ann's claim"]),  # short: the only one
    ]:
        response = await client.get(
            f"/v1/cases?page[size]={size}&page[number]={number}", headers=claims.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert [case["title"] for case in body["data"]] == titles_on_page, (size, number)
        assert body["meta"] == {
            "total_count": 3,
            "total_pages": -(-3 // size),
            "page_size": size,
            "current_page": number,
        }, (size, number)
    nothing = await client.get(
        "/v1/cases?contact[email]=nobody@x.example&page[number]=2", headers=claims.headers
    )
    assert nothing.json()["meta"]["total_count"] == 0
    # A full page whose filters the tallies count carries that count in its own statement
    # (no count query); one whose filters they cannot (a contact's) asks the count of the
    # cases, and so does a page past the end: all say 2.
    pages = CountedPages()
    monkeypatch.setattr(repository, "count_cases", pages.recording(repository.count_cases))
    for query, pages_that_count in [
        ("parent_status=in_progress", [3]),
        ("contact[family_name]=Smith", [1, 2, 3]),
    ]:
        assert await pages.walk(client, f"/v1/cases?{query}", claims) == pages_that_count, query


async def test_json_filter_overrides_the_others(
    client: httpx.AsyncClient, claims: Tenant, portfolio: dict[str, dict[str, Any]]
) -> None:
    def encoded(document: dict[str, Any]) -> str:
        return "filter=" + httpx.QueryParams({"f": json.dumps(document)})["f"]

    query = encoded(
        {
            "attributes": {"parent_status": {"$eq": "in_progress"}, "reference": {"$ne": "REF-C"}},
            "relationships": {"contact": {"attributes": {"family_name": {"$eq": "Smith"}}}},
        }
    )
    assert await titles(client, claims, query + "&reference=REF-A") == ["Bob's claim"]
    nobody = encoded(
        {"relationships": {"contacts": {"attributes": {"email": {"$ne": "ann@x.example"}}}}}
    )
    # "no contact has this email": Ann's case is out, the ones without contacts are in
    assert await titles(client, claims, nobody) == ["Cid's claim", "Bob's claim"]
    dated = encoded(
        {"attributes": {"created_at": {"$ge": "2000-01-01"}, "archived": {"$eq": True}}}
    )
    assert await titles(client, claims, dated) == ["Zed's claim"]
    data = encoded({"attributes": {"status": {"$in": ["new", "under_review"]}}})
    assert len(await titles(client, claims, data)) == 3


async def test_errors(
    client: httpx.AsyncClient, claims: Tenant, grant: Grant, make_tenant: MakeTenant
) -> None:
    for query, fragment in [
        ("parent_status=cancelled", "parent_status"),
        ("waiting_for=boss", "waiting_for"),
        ("page[size]=101", "page[size]"),
        ("page[number]=0", "page[number]"),
        ("sort=colour", "Cannot sort by 'colour'"),
        ("template[id]=nope", "template[id]"),
        ("filter={nope", "not valid JSON"),
        ('filter={"attributes":{"colour":{"$eq":"red"}}}', "Cannot filter on 'colour'"),
        ('filter={"attributes":{"parent_status":{"$eq":"lost"}}}', "'lost' is not one of"),
        ("colour=red", "colour"),
    ]:
        assert_error(await client.get(f"/v1/cases?{query}", headers=claims.headers), 400, fragment)
        counted = await client.get(f"/v1/cases/count?{query}", headers=claims.headers)
        # the count takes the list's filters, and has no order to sort or pages
        if query.startswith(("sort", "page")):
            assert_error(counted, 400, f"Unknown query parameter '{query.split('=')[0]}'")
        else:
            assert counted.status_code == 400, query
    stranger = await make_tenant(template_files=[])
    assert_error(
        await client.get(f"/v1/cases?workspace[slug]={stranger.slug}", headers=claims.headers),
        403,
    )


async def test_a_value_the_database_cannot_compare_is_a_400(
    app: Any, client: httpx.AsyncClient, portfolio: dict[str, dict[str, Any]], claims: Tenant
) -> None:
    """PostgreSQL refuses a NUL character in text: a 400 that says so, from the list and the
    count alike (both read through the driver itself, db.rows). SQLite compares it and finds
    nothing."""
    query = {"contact[email]": "ann\x00@x.example"}
    listed = await client.get("/v1/cases", params=query, headers=claims.headers)
    counted = await client.get("/v1/cases/count", params=query, headers=claims.headers)
    if app.state.database.is_postgresql:
        assert_error(listed, 400, "NUL character")
        assert_error(counted, 400, "NUL character")
    else:
        assert listed.status_code == 200 and listed.json()["data"] == [], listed.text
        assert counted.json() == {"count": 0}


async def test_a_connection_killed_under_the_list_is_dropped_not_reused(
    settings: Settings, portfolio: dict[str, dict[str, Any]], claims: Tenant
) -> None:
    """The list reads through the driver itself (db.rows): a connection PostgreSQL closed
    fails the request that drew it, then leaves the pool, so the requests after it work.
    An app of its own: only its connections are killed, and it still stops cleanly."""
    if not settings.resolved_database_url.startswith("postgresql"):
        pytest.skip("connections to kill are PostgreSQL's")
    admin = await asyncpg.connect(settings.resolved_database_url.replace("+asyncpg", ""))
    others = {row["pid"] for row in await admin.fetch("SELECT pid FROM pg_stat_activity")}
    app = create_app(settings)
    query = "/v1/cases?parent_status=in_progress"
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as c:
                assert (await c.get(query, headers=claims.headers)).status_code == 200
                killed = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> ALL($1::int[])"
                    " AND state = 'idle' AND query LIKE '%FROM cases%'",
                    list(others),
                )
                assert killed, "no idle connection had read the cases list"
                # Only read connections match: a write connection's last statement is its
                # COMMIT.
                statuses = [
                    (await c.get(query, headers=claims.headers)).status_code for _ in range(12)
                ]
    finally:
        await admin.close()
    assert set(statuses[:-5]) <= {200, 500}, statuses
    assert statuses[-5:] == [200] * 5, statuses


async def test_postgresql_keeps_one_plan_for_the_page_of_cases(
    settings: Settings, portfolio: dict[str, dict[str, Any]], claims: Tenant
) -> None:
    """The page's bounds are written into its SQL (kit.listing.paged): with LIMIT as a
    parameter, PostgreSQL planned the page anew on every request (custom plans only). One
    connection, so that the prepared statement read afterwards is the one the requests ran."""
    if not settings.resolved_database_url.startswith("postgresql"):
        pytest.skip("plans are PostgreSQL's")
    # Enough cases that a page is a small part of them: on a handful, the plan with the LIMIT
    # unknown costs no more, and PostgreSQL took it either way.
    admin = await asyncpg.connect(settings.resolved_database_url.replace("+asyncpg", ""))
    try:
        await admin.execute(
            "INSERT INTO cases SELECT workspace_id, template_id, title, description, locale,"
            " reference || '-' || n, status, parent_status, waiting_for, owner_id, archived,"
            " archived_at, schema, data, config, gen_random_uuid(), created_at, updated_at,"
            " contacts_json FROM cases, generate_series(1, 1000) AS n WHERE id = $1",
            uuid.UUID(portfolio["ann"]["id"]),
        )
        await admin.execute("ANALYZE cases")
    finally:
        await admin.close()
    app = create_app(settings.model_copy(update={"database_pool_size": 1}))
    query = {"page[size]": "2"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as c:
            pages = [
                (await c.get("/v1/cases", params=query, headers=claims.headers)).json()
                for _ in range(8)
            ]
        async with app.state.database.read_sessionmaker() as session:
            plans = (
                await session.execute(
                    text(
                        "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                        " WHERE statement LIKE '%FROM cases%LIMIT%'"
                        " AND statement NOT LIKE '%pg_prepared_statements%'"
                    )
                )
            ).all()
    assert all(page == pages[0] for page in pages) and len(pages[0]["data"]) == 2, pages[0]
    assert len(plans) == 1, plans
    generic, custom = plans[0]
    assert generic >= 2 and custom <= 6, plans

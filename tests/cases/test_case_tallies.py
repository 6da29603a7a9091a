"""Counts answered from case_tallies (migration 0010) equal the cases listed, through
creations, status and waiting_for changes, archiving and compaction."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.cases import repository
from formcase.cases.filters import CASE_FILTERS, archived_default
from formcase.cases.models import CaseTally
from formcase.kit.filters import Condition
from tests.cases.test_cases_api import new_case
from tests.helpers import Tenant

QUERIES = [
    "",
    "archived=true",
    "parent_status=in_progress",
    "parent_status=in_progress&waiting_for=owner",
    "status=new",
    "status=settled&archived=true",
    "waiting_for=contact",
    'filter={"attributes":{"status":{"$ne":"new"},"archived":{"$in":[true,false]}}}',
]


async def listed_and_counted(
    client: httpx.AsyncClient, tenant: Tenant, query: str
) -> tuple[int, int]:
    listed = await client.get(f"/v1/cases?page[size]=100&{query}", headers=tenant.headers)
    counted = await client.get(f"/v1/cases/count?{query}", headers=tenant.headers)
    assert listed.status_code == 200 and counted.status_code == 200, (listed.text, counted.text)
    return len(listed.json()["data"]), counted.json()["count"]


async def test_tallied_counts_follow_every_change(
    client: httpx.AsyncClient, claims: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    made = [await new_case(client, claims, title=f"Claim {n}") for n in range(6)]
    changes = [
        {"status": "under_review", "waiting_for": "owner"},
        {"status": "under_review", "waiting_for": "contact"},
        {"status": "settled"},
        {"status": "settled", "archived": True},
        {"archived": True},
    ]
    for case, change in zip(made, changes, strict=False):
        patched = await client.patch(f"/v1/cases/{case['id']}", json=change, headers=claims.headers)
        assert patched.status_code == 200, patched.text
    expected = {
        "": 4,
        "archived=true": 2,
        "parent_status=in_progress": 2,
        "parent_status=in_progress&waiting_for=owner": 1,
        "status=new": 1,
        "status=settled&archived=true": 1,
        "waiting_for=contact": 1,
    }
    for query in QUERIES:
        listed, counted = await listed_and_counted(client, claims, query)
        assert counted == listed == expected.get(query, listed), query
    # a case moved back and forth leaves its key's deltas summing to the case it is
    for status in ("new", "under_review", "new"):
        patched = await client.patch(
            f"/v1/cases/{made[0]['id']}", json={"status": status}, headers=claims.headers
        )
        assert patched.status_code == 200
    assert await listed_and_counted(client, claims, "status=new") == (2, 2)

    async with sessionmaker() as session:
        await repository.compact_tallies(session)
        rows = await session.scalar(
            select(func.count()).select_from(CaseTally).where(CaseTally.workspace_id == claims.id)
        )
    # one row per key left: new waiting for the owner (made[0], back from under_review),
    # under_review waiting for the contact, settled, settled archived, new archived, new
    assert rows == 6
    for query in QUERIES:
        listed, counted = await listed_and_counted(client, claims, query)
        assert counted == listed, query


def test_only_key_filters_are_answered_by_tallies() -> None:
    def tallied(*conditions: Condition) -> bool:
        bound = CASE_FILTERS.bind(archived_default(list(conditions)))
        return repository._TALLIED.restated(bound.clauses()) is not None

    assert tallied()
    assert tallied(Condition("parent_status", "$eq", "in_progress"))
    assert tallied(Condition("status", "$nin", ["new", "settled"]))
    assert tallied(Condition("template.id", "$eq", None))
    assert not tallied(Condition("contact.email", "$eq", "a@b.example"))
    assert not tallied(Condition("workspace.slug", "$eq", "acme"))
    assert not tallied(Condition("archived_at", "$ge", "2026-01-01"))
    assert not tallied(Condition("data.cause", "$eq", "fire"))
    assert not tallied(Condition("title", "$eq", "x"))

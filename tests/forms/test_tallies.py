"""Counts answered from form tallies are the counts of the forms, through every kind of
change (API, direct SQL, deletion) and after compaction."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.forms import repository
from formcase.forms.filters import FORM_FILTERS, archived_default, group_expression
from formcase.forms.models import Form, FormTally
from formcase.kit.filters import Condition
from tests.helpers import Tenant

ForceStatus = Callable[[str, str], Awaitable[None]]

QUERIES = [
    "/v1/forms/count",
    "/v1/forms/count?group-by=status",
    "/v1/forms/count?group-by=flow.slug,status&archived=true",
    "/v1/forms/count?status=pending,draft&flow[slug]=contact-details",
    "/v1/forms/count?completed=true",
    "/v1/forms/count?processed=false&group-by=status",
    '/v1/forms/count?filter={"attributes":{"status":{"$nin":["draft"]}}}',
]


async def truth(
    sessionmaker: async_sessionmaker[AsyncSession], tenant: Tenant
) -> dict[tuple[str, str, bool], int]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(Form.flow_slug, Form.status, Form.archived, func.count())
            .where(Form.workspace_id == tenant.id)
            .group_by(Form.flow_slug, Form.status, Form.archived)
        )
        return {(slug, status, archived): n for slug, status, archived, n in rows.all()}


def expected(query: str, counts: dict[tuple[str, str, bool], int]) -> object:
    """What each query in QUERIES must answer, computed from the forms themselves."""

    def total(keep: Callable[[str, str, bool], bool]) -> int:
        return sum(n for key, n in counts.items() if keep(*key))

    def by(keep: Callable[[str, str, bool], bool], index: int) -> dict[str, int]:
        result: dict[str, int] = {}
        for key, n in counts.items():
            if keep(*key):
                result[str(key[index])] = result.get(str(key[index]), 0) + n
        return result

    live = lambda _slug, _status, archived: not archived  # noqa: E731
    answers: dict[str, object] = {
        QUERIES[0]: {"count": total(live)},
        QUERIES[1]: {"count": total(live), "by": {"status": by(live, 1)}},
        QUERIES[2]: {
            "count": total(lambda s, st, a: a),
            "by": {"flow.slug": by(lambda s, st, a: a, 0), "status": by(lambda s, st, a: a, 1)},
        },
        QUERIES[3]: {
            "count": total(
                lambda s, st, a: not a and s == "contact-details" and st in ("pending", "draft")
            )
        },
        QUERIES[4]: {"count": total(lambda s, st, a: not a and st in ("completed", "processed"))},
        QUERIES[5]: {
            "count": total(lambda s, st, a: not a and st != "processed"),
            "by": {"status": by(lambda s, st, a: not a and st != "processed", 1)},
        },
        QUERIES[6]: {"count": total(lambda s, st, a: not a and st != "draft")},
    }
    return answers[query]


async def check(
    client: httpx.AsyncClient, tenant: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    counts = await truth(sessionmaker, tenant)
    for query in QUERIES:
        answer = (await client.get(query, headers=tenant.headers)).json()
        assert answer == expected(query, counts), query
    listed = (await client.get("/v1/forms?status=pending", headers=tenant.headers)).json()
    pending = sum(
        n for (_, status, archived), n in counts.items() if status == "pending" and not archived
    )
    assert listed["meta"]["total_count"] == pending


async def test_tallies_follow_every_change(
    client: httpx.AsyncClient,
    tenant: Tenant,
    sessionmaker: async_sessionmaker[AsyncSession],
    force_status: ForceStatus,
) -> None:
    ids = []
    for number in range(12):
        slug = "contact-details" if number % 3 else "client-onboarding"
        response = await client.post(
            "/v1/forms",
            json={"flow": {"slug": slug}, "draft": number % 4 == 0},
            headers=tenant.headers,
        )
        ids.append(response.json()["id"])
    await check(client, tenant, sessionmaker)

    for form_id, status in zip(
        ids[:6],
        ["completed", "declined", "processed", "completed", "pending", "processed"],
        strict=True,
    ):
        await force_status(form_id, status)  # a plain SQL UPDATE: the triggers still count it
    for form_id in ids[6:9]:
        await client.patch(f"/v1/forms/{form_id}", json={"archived": True}, headers=tenant.headers)
    await client.patch(f"/v1/forms/{ids[9]}", json={"draft": False}, headers=tenant.headers)
    await check(client, tenant, sessionmaker)

    async with sessionmaker() as session:
        await session.execute(delete(Form).where(Form.id == uuid.UUID(ids[10])))
        await session.commit()
    await check(client, tenant, sessionmaker)

    async with sessionmaker() as session:
        await repository.compact_tallies(session)
        rows = (
            await session.execute(select(func.count()).where(FormTally.workspace_id == tenant.id))
        ).scalar_one()
    assert rows == len(await truth(sessionmaker, tenant))  # one row per key after compaction
    await check(client, tenant, sessionmaker)


def test_counts_read_the_tallies_when_filters_and_groups_are_on_their_key() -> None:
    def tallied(*conditions: Condition, group: str | None = None) -> bool:
        where = FORM_FILTERS.bind(archived_default(list(conditions))).clauses()
        grouped = group_expression(group) if group else None
        statement = (
            repository._TALLIED.count(where)
            if grouped is None
            else repository._TALLIED.count_by(where, grouped)
        )
        return FormTally.__table__ in statement.get_final_froms()

    assert tallied()
    assert tallied(Condition("status", "$in", ["pending", "draft"]))
    assert tallied(Condition("completed", "$eq", True), Condition("flow.slug", "$eq", "x"))
    assert tallied(Condition("status", "$ne", "draft"), Condition("processed", "$eq", False))
    assert tallied(group="status")
    assert tallied(Condition("archived", "$eq", True), group="flow.slug")
    assert not tallied(Condition("user.email", "$eq", "a@b.example"))
    assert not tallied(Condition("owner.email", "$eq", "a@b.example"))
    assert not tallied(Condition("active", "$eq", True))
    assert not tallied(group="user.email")
    assert not tallied(Condition("status", "$eq", "pending"), group="data.channel")

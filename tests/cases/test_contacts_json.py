"""cases.contacts_json: what a list page shows of a case's contacts. The server writes it with
the contacts; migration 0012 wrote it for the cases that were there before. Both must write
the same text, or a migrated case would list differently from a new one."""

from __future__ import annotations

import json
import uuid

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.cases.models import Case
from formcase.config import Settings
from formcase.db.migrate import migration
from tests.cases.test_cases_api import new_case
from tests.helpers import Tenant


async def test_the_migration_writes_what_the_server_writes(
    client: httpx.AsyncClient,
    claims: Tenant,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    made = [
        await new_case(
            client,
            claims,
            contacts=[
                {"key": "broker", "email": "b@x.example", "name": "Brokers & Cie"},
                {"email": "zoë@x.example", "given_name": "Zoë", "phone": "+32470000001"},
            ],
        ),
        await new_case(client, claims, title="No contacts"),
    ]
    # Contacts added later come after the others; a removed one is gone.
    url = f"/v1/cases/{made[0]['id']}/contacts"
    later = {"contacts": [{"key": "broker", "remove": True}]}
    assert (await client.post(url, json=later, headers=claims.headers)).status_code == 200
    later = {"contacts": [{"key": "broker", "email": "new@x.example"}]}
    assert (await client.post(url, json=later, headers=claims.headers)).status_code == 200
    ids = [uuid.UUID(case["id"]) for case in made]
    query = select(Case.id, Case.contacts_json).where(Case.id.in_(ids))

    async with sessionmaker() as session:
        written = dict((await session.execute(query)).all())
        await session.execute(update(Case).where(Case.id.in_(ids)).values(contacts_json="[]"))
        await session.commit()
        await (await session.connection()).run_sync(migration(settings, "0012").fill)
        await session.commit()
        migrated = dict((await session.execute(query)).all())

    assert migrated == written
    assert [contact["key"] for contact in json.loads(written[ids[0]])] == ["main", "broker"]
    assert written[ids[1]] == "[]"
    bare = await client.get(f"/v1/cases?reference={made[1]['reference']}", headers=claims.headers)
    assert bare.json()["data"][0]["contacts"] == []
    full = (await client.get(f"/v1/cases/{made[0]['id']}", headers=claims.headers)).json()
    assert [contact["key"] for contact in full["contacts"]] == ["main", "broker"]
    assert full["contacts"][1]["email"] == "new@x.example"

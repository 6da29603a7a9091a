"""The outbox: every change writes its events, with the form object frozen as it was, in the
change's own transaction; a change that rolls back leaves no event."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.events import service as outbox
from formcase.events.models import Event
from tests.attachments.samples import png
from tests.conftest import MakeTenant
from tests.helpers import Tenant, fill_api

SURVEY = Path(__file__).parents[1] / "fill" / "survey.yaml"

Sessions = async_sessionmaker[AsyncSession]


async def events_of(sessionmaker: Sessions, workspace_id: uuid.UUID) -> list[Event]:
    async with sessionmaker() as session:
        found = await session.scalars(
            select(Event).where(Event.workspace_id == workspace_id).order_by(Event.created_at)
        )
        return list(found)


def batches(events: list[Event]) -> list[list[str]]:
    """The kinds of each batch, in the order the batches were written."""
    grouped: dict[uuid.UUID, list[str]] = {}
    for event in sorted(events, key=lambda e: (e.created_at, e.kind)):
        grouped.setdefault(event.batch_id, []).append(event.kind)
    return [sorted(kinds) for kinds in grouped.values()]


@pytest.fixture
async def surveyed(make_tenant: MakeTenant) -> Tenant:
    return await make_tenant(template_files=[SURVEY])


async def new_form(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/forms", json={"flow": {"slug": "survey"}, **body}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    form: dict[str, Any] = response.json()
    return form


async def test_publish_freezes_the_payload_and_rolls_back_with_the_change(
    sessionmaker: Sessions, tenant: Tenant
) -> None:
    subject = uuid.uuid4()
    document: dict[str, Any] = {
        "id": subject,
        "at": datetime(2024, 1, 15, 10, 30, 0, 123456, tzinfo=UTC),
        "status": "pending",
        "nested": {"list": [1, "two"]},
    }
    new = outbox.NewEvent(tenant.id, "forms:updated", "forms", subject, document, subject)
    async with sessionmaker() as session:
        rows = await outbox.publish(session, [new, new])
        await session.commit()
    document["status"] = "completed"  # a later change does not reach what was written
    stored = await events_of(sessionmaker, tenant.id)
    assert [e.id for e in stored] and {e.id for e in stored} == {r.id for r in rows}
    assert len({e.batch_id for e in stored}) == 1  # one call, one batch
    assert stored[0].payload == {
        "id": str(subject),
        "at": "2024-01-15T10:30:00Z",  # as the API writes timestamps
        "status": "pending",
        "nested": {"list": [1, "two"]},
    }
    assert stored[0].subject_id == subject and stored[0].form_id == subject

    async with sessionmaker() as session:
        await outbox.publish(session, [new])
        await session.rollback()
    assert len(await events_of(sessionmaker, tenant.id)) == 2  # the rolled-back one is not there
    async with sessionmaker() as session:
        assert await outbox.publish(session, []) == []


async def test_forms_api_events(
    client: httpx.AsyncClient, sessionmaker: Sessions, surveyed: Tenant
) -> None:
    form = await new_form(client, surveyed, draft=True)
    [created] = await events_of(sessionmaker, surveyed.id)
    assert (created.kind, created.subject_type, created.subject_id) == (
        "forms:created",
        "forms",
        uuid.UUID(form["id"]),
    )
    assert created.form_id == uuid.UUID(form["id"])
    assert created.payload == form  # the form object, as the API answered it

    url = f"/v1/forms/{form['id']}"
    patched = await client.patch(url, json={"archived": True}, headers=surveyed.headers)
    assert patched.status_code == 200, patched.text
    same = await client.patch(url, json={"archived": True}, headers=surveyed.headers)
    assert same.status_code == 200  # nothing changed: no event
    await client.patch(url, json={"archived": False, "draft": False}, headers=surveyed.headers)
    await client.patch(url, json={"active_until": "2099-01-01"}, headers=surveyed.headers)
    stored = await events_of(sessionmaker, surveyed.id)
    assert batches(stored) == [
        ["forms:created"],
        ["forms:archived", "forms:updated"],
        ["forms:unarchived", "forms:updated"],
        ["forms:updated"],
    ]
    archived = next(e for e in stored if e.kind == "forms:archived")
    assert archived.payload == patched.json()
    assert archived.payload["archived"] is True
    last = max(stored, key=lambda e: e.created_at)
    assert last.payload["status"] == "pending"
    assert last.payload["active_until"] == "2099-01-01T00:00:00Z"

    refused = await client.patch(url, json={"processed": True}, headers=surveyed.headers)
    assert refused.status_code == 422  # a refused change writes no event
    assert len(await events_of(sessionmaker, surveyed.id)) == len(stored)


async def test_fill_api_events(
    client: httpx.AsyncClient, sessionmaker: Sessions, surveyed: Tenant
) -> None:
    form = await new_form(client, surveyed, user={"email": "ann@x.example"})
    assert (await client.post(fill_api(form, "state"))).status_code == 200
    assert (await client.post(fill_api(form, "state"))).status_code == 200  # resumed: no event
    saved = await client.post(
        fill_api(form, "steps/about"), json={"data": {"name": "Ann", "kind": "person"}}
    )
    assert saved.status_code == 200, saved.text
    refused = await client.post(fill_api(form, "steps/about"), json={"data": {"kind": "robot"}})
    assert refused.status_code == 400
    await client.post(fill_api(form, "steps/end"), json={"data": {"agree": True}})
    assert (await client.post(fill_api(form, "submit"))).status_code == 200

    stored = await events_of(sessionmaker, surveyed.id)
    assert batches(stored) == [
        ["forms:created"],
        ["responses:created"],
        ["responses:updated"],
        ["responses:updated"],
        ["forms:updated", "responses:completed", "responses:updated"],
    ]
    response_id = saved.json()["response"]["id"]
    completed = next(e for e in stored if e.kind == "responses:completed")
    assert (completed.subject_type, str(completed.subject_id)) == ("responses", response_id)
    assert completed.form_id == uuid.UUID(form["id"])
    fetched = (await client.get(f"/v1/forms/{form['id']}", headers=surveyed.headers)).json()
    # The form as it was at that moment: completed (its invitation may have been settled by
    # the worker since).
    frozen_notes, notes = completed.payload.pop("notifications"), fetched.pop("notifications")
    assert completed.payload == fetched
    assert [n["id"] for n in frozen_notes] == [n["id"] for n in notes]
    assert completed.payload["status"] == "completed"
    assert completed.payload["responses"][0]["completed_at"]
    opened = next(e for e in stored if e.kind == "responses:created")
    assert opened.payload["status"] == "pending"
    assert opened.payload["responses"][0]["data"] == {}  # frozen before the answers came

    other = await new_form(client, surveyed)
    assert (await client.post(fill_api(other, "decline"), json={"reason": "no"})).status_code == 200
    declined = [
        e for e in await events_of(sessionmaker, surveyed.id) if e.form_id == uuid.UUID(other["id"])
    ]
    assert batches(declined) == [
        ["forms:created"],
        ["forms:updated", "responses:created", "responses:updated"],
    ]
    assert all(e.payload["status"] == "declined" for e in declined[1:])


async def test_file_events(
    client: httpx.AsyncClient, sessionmaker: Sessions, make_tenant: MakeTenant
) -> None:
    papers = await make_tenant(template_files=[SURVEY.with_name("papers.yaml")])
    form = await new_form(client, papers, flow={"slug": "papers"})
    card = await client.post(
        fill_api(form, "files/id_card"), files={"file": ("card.png", png(20, 10))}
    )
    assert card.status_code == 201, card.text
    wrong = await client.post(fill_api(form, "files/id_card"), files={"file": ("a.txt", b"text")})
    assert wrong.status_code == 415  # refused: no event
    removed = await client.delete(fill_api(form, f"files/id_card/{card.json()['id']}"))
    assert removed.status_code == 200, removed.text

    stored = await events_of(sessionmaker, papers.id)
    # The response is made (and committed) before the file arrives, then the file lands.
    assert batches(stored) == [
        ["forms:created"],
        ["responses:created"],
        ["responses:updated"],
        ["responses:updated"],
    ]
    uploaded, taken_back = (e for e in stored if e.kind == "responses:updated")
    assert uploaded.payload["responses"][0]["files"] == {"id_card": [card.json()["id"]]}
    assert taken_back.payload["responses"][0]["files"] == {}


async def test_each_change_to_an_object_gets_the_next_sequence_in_commit_order(
    sessionmaker: Sessions, tenant: Tenant
) -> None:
    """A form's (or case's) changes are numbered 1, 2, 3 … in the order they commit, a
    response's events counting for its form; another object counts on its own. A change
    started while another to the same object is uncommitted waits for it and takes the next
    number (PostgreSQL: the row lock; SQLite: its single writer)."""
    form, case = uuid.uuid4(), uuid.uuid4()

    def change(kind: str, subject: uuid.UUID, form_id: uuid.UUID | None) -> outbox.NewEvent:
        subject_type = kind.split(":")[0]
        return outbox.NewEvent(tenant.id, kind, subject_type, subject, {}, form_id)

    async def publish(*events: outbox.NewEvent) -> list[Event]:
        async with sessionmaker() as session:
            rows = await outbox.publish(session, list(events))
            await session.commit()
        return rows

    created = await publish(change("forms:created", form, form))
    answered = await publish(
        change("responses:updated", uuid.uuid4(), form),
        change("responses:completed", uuid.uuid4(), form),
    )
    other = await publish(change("cases:created", case, None))
    assert [e.sequence for e in created + answered + other] == [1, 2, 2, 1]

    async with sessionmaker() as first:
        [early] = await outbox.publish(first, [change("forms:updated", form, form)])
        later = asyncio.create_task(publish(change("forms:archived", form, form)))
        await asyncio.sleep(0.2)  # let it reach the lock (it waits however long this is)
        await first.commit()
    [late] = await later
    assert (early.sequence, late.sequence) == (3, 4)

"""The outbox: events written in the same transaction as the change they describe, with the
object frozen as it was, and the deliveries they cause (also in that transaction). Nothing
here commits: the caller does, so the change, its events and their jobs land together or
not at all."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

import orjson
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.events.models import Event, EventSequence
from formcase.kit.responses import api_json
from formcase.kit.time import utcnow
from formcase.webhooks import service as webhooks


@dataclass(frozen=True)
class NewEvent:
    """An event to write: `payload` is the object as the API shows it (for forms and
    responses: the form object, with its `responses[]`), frozen when written."""

    workspace_id: uuid.UUID
    kind: str
    subject_type: str  # forms, responses, cases
    subject_id: uuid.UUID
    payload: dict[str, Any]
    form_id: uuid.UUID | None = None


def frozen(document: dict[str, Any]) -> dict[str, Any]:
    """A JSON-safe copy, serialised as the API serialises it (UTC `Z` timestamps, whole
    seconds, UUIDs as strings): later changes to the object do not reach it."""
    copy: dict[str, Any] = orjson.loads(api_json(document))
    return copy


async def next_sequences(
    session: AsyncSession, objects: dict[uuid.UUID, uuid.UUID]
) -> dict[uuid.UUID, int]:
    """One more change to each of these objects (object id -> its workspace's id): their new
    sequence numbers, 1 for an object's first. Each is one upsert whose row stays locked
    until the transaction ends, so that on PostgreSQL a concurrent change to the same object
    waits and takes the next number: sequences follow commits. Taken in id order, so that
    two transactions naming the same objects cannot deadlock."""
    table = cast(Table, EventSequence.__table__)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    numbers = {}
    for object_id in sorted(objects):
        statement = (
            insert(table)
            .values(object_id=object_id, workspace_id=objects[object_id], sequence=1)
            .on_conflict_do_update(
                index_elements=[table.c.object_id], set_={"sequence": table.c.sequence + 1}
            )
            .returning(table.c.sequence)
        )
        numbers[object_id] = int((await session.execute(statement)).scalar_one())
    return numbers


async def publish(session: AsyncSession, events: list[NewEvent]) -> list[Event]:
    """Add these events (one batch: delivered together) and their deliveries to the
    session's transaction. Does not commit."""
    if not events:
        return []
    batch_id = uuid.uuid4()
    now = utcnow()
    sequences = await next_sequences(
        session, {new.form_id or new.subject_id: new.workspace_id for new in events}
    )
    copies: dict[int, dict[str, Any]] = {}  # one copy per payload object, not per event
    rows = []
    for new in events:
        payload = copies.get(id(new.payload))
        if payload is None:
            payload = copies[id(new.payload)] = frozen(new.payload)
        rows.append(
            Event(
                id=uuid.uuid4(),
                workspace_id=new.workspace_id,
                batch_id=batch_id,
                kind=new.kind,
                subject_type=new.subject_type,
                subject_id=new.subject_id,
                form_id=new.form_id,
                payload=payload,
                created_at=now,
                sequence=sequences[new.form_id or new.subject_id],
            )
        )
    session.add_all(rows)
    await webhooks.enqueue(session, rows)
    return rows

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from formcase.db.base import Base, IdMixin, TimestampMixin


class Event(IdMixin, Base):
    """Something that happened (forms:created, responses:completed …), written in the same
    transaction as the change itself, with the payload frozen as it was at that moment.
    Events written together (one transaction) share a `batch_id`: Penbox sends them in one
    delivery (`events: [...]`)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_workspace_id_created_at", "workspace_id", "created_at"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    batch_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(64))  # forms:created, responses:completed …
    subject_type: Mapped[str] = mapped_column(String(32))  # forms, responses, cases
    subject_id: Mapped[uuid.UUID]
    form_id: Mapped[uuid.UUID | None]  # for per-form webhook subscriptions
    payload: Mapped[dict[str, Any]]  # the object as it was (for forms: the form object)
    created_at: Mapped[datetime]
    # The object's count of changes (see EventSequence) with this batch; None before 0013.
    sequence: Mapped[int | None] = mapped_column(Integer)

    @property
    def object_id(self) -> uuid.UUID:
        """What the event is about, for ordering: the form (of a response's events too) or
        the case."""
        return self.form_id or self.subject_id


class EventSequence(Base):
    """Per object (a form, a case), how many changes have published events: the `sequence`
    of the next batch is one more. Incremented in the publishing transaction, whose row lock
    on PostgreSQL (SQLite's single writer elsewhere) makes the order of sequences the order
    of commits."""

    __tablename__ = "event_sequences"

    object_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    sequence: Mapped[int] = mapped_column(Integer)


class Job(IdMixin, TimestampMixin, Base):
    """Work the worker does after a commit (a webhook delivery, a notification): claimed by one
    worker at a time (`leased_until`), retried with backoff, `dead` after too many attempts."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_after", "status", "run_after"),)

    kind: Mapped[str] = mapped_column(String(32))  # webhook, notification, …
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))  # pending, running, done, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime]
    leased_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )

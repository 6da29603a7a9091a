from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from formcase.db.base import Base, IdMixin, TimestampMixin


class DocintelJob(IdMixin, TimestampMixin, Base):
    """A document-intelligence job: what to read (attachments) and what to find (a built-in
    template or the caller's fields); the worker fills in `results`."""

    __tablename__ = "docintel_jobs"
    __table_args__ = (Index("ix_docintel_jobs_workspace", "workspace_id", "created_at"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    token_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16))  # pending, processing, completed, failed
    language: Mapped[str | None] = mapped_column(String(16))
    template: Mapped[str | None] = mapped_column(String(64))  # invoice, id_document
    fields: Mapped[list[dict[str, Any]] | None]  # the caller's fields, keys filled in
    attachments: Mapped[list[dict[str, Any]]]  # [{id, name, type, pages}]
    pages: Mapped[int] = mapped_column(Integer)
    results: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)  # why it failed
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]

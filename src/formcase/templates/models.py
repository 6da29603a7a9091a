from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from formcase.db.base import Base, IdMixin, TimestampMixin


class FormTemplate(IdMixin, TimestampMixin, Base):
    """A form template (API name: flow) of one workspace; its content lives in versions."""

    __tablename__ = "form_templates"
    __table_args__ = (UniqueConstraint("workspace_id", "slug"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(8), default="en")
    enabled: Mapped[bool] = mapped_column(default=True)
    archived_at: Mapped[datetime | None]
    current_version: Mapped[int] = mapped_column(Integer, default=1)


class FormTemplateVersion(IdMixin, Base):
    """One published, immutable version; forms point at the version they were created with."""

    __tablename__ = "form_template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    template_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("form_templates.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]]
    checksum: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

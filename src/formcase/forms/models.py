from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from formcase.db.base import Base, IdMixin, TimestampMixin


class Form(IdMixin, TimestampMixin, Base):
    """A form (API name: request) sent to one contact."""

    __tablename__ = "forms"
    __table_args__ = (
        # The list and count queries: workspace + archived first, then the usual filters,
        # created_at last so that a filtered page comes in index order.
        Index("ix_forms_listing", "workspace_id", "archived", "created_at"),
        Index("ix_forms_by_status", "workspace_id", "archived", "status", "created_at"),
        Index(
            "ix_forms_by_template_status",
            "workspace_id",
            "archived",
            "flow_slug",
            "status",
            "created_at",
        ),
        Index("ix_forms_user_email", "workspace_id", "user_email"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("form_templates.id"), index=True)
    template_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("form_template_versions.id"))
    flow_slug: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    # `archived` mirrors `archived_at IS NOT NULL` so that indexes can lead with it.
    archived: Mapped[bool] = mapped_column(default=False)
    archived_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    active_from: Mapped[datetime | None]
    active_until: Mapped[datetime | None]
    fill_token: Mapped[str] = mapped_column(String(64), unique=True)

    user_anonymous: Mapped[bool] = mapped_column(default=False)
    user_email: Mapped[str | None] = mapped_column(String(320))
    user_phone: Mapped[str | None] = mapped_column(String(32))
    user_given_name: Mapped[str | None] = mapped_column(String(200))
    user_family_name: Mapped[str | None] = mapped_column(String(200))
    user_locale: Mapped[str | None] = mapped_column(String(16))
    user_internal_ref: Mapped[str | None] = mapped_column(String(200))
    user_company_name: Mapped[str | None] = mapped_column(String(200))

    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    data: Mapped[dict[str, Any]]
    external_args: Mapped[dict[str, Any]]
    options: Mapped[dict[str, Any]]
    webhooks: Mapped[dict[str, Any]]
    redirect_url: Mapped[str | None] = mapped_column(String(2048))
    # Set when a contact first opens the form: most forms have no response, and knowing
    # that spares reading a page of forms the query for their responses.
    has_responses: Mapped[bool] = mapped_column(default=False, server_default=false())
    branding_slug: Mapped[str | None] = mapped_column(String(64))


class FormTally(Base):
    """How many forms there are per workspace, template, status and archival, as deltas.

    Database triggers (migration 0002) append a row for every change of those columns, in the
    transaction of the change, so counts read here are exact without counting forms; rows of
    one key are summed into one from time to time (`repository.compact_tallies`).
    """

    __tablename__ = "form_tallies"
    __table_args__ = (
        Index("ix_form_tallies_key", "workspace_id", "archived", "flow_slug", "status"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    workspace_id: Mapped[uuid.UUID]
    flow_slug: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    archived: Mapped[bool]
    delta: Mapped[int] = mapped_column(BigInteger)


def fill_link(public_url: str, fill_token: str) -> str:
    """The contact's personal link (`links.fill`)."""
    return f"{public_url}/f/{fill_token}"

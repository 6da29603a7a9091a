from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from formcase.db.base import Base, IdMixin, TimestampMixin


class CaseTemplate(IdMixin, TimestampMixin, Base):
    """A case template imported from a file (cases/format.py); re-importing its slug
    replaces its definition (cases made from it keep the copy they took)."""

    __tablename__ = "case_templates"
    __table_args__ = (UniqueConstraint("workspace_id", "slug"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(16))
    definition: Mapped[dict[str, Any]]
    checksum: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    archived_at: Mapped[datetime | None]


class Case(IdMixin, TimestampMixin, Base):
    """A case: its data (values by schema key), status, contacts (case_contacts) and steps
    (case_steps). `schema` and `config` are copied from the template when it is created."""

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("workspace_id", "reference"),
        # The list and count: workspace + archived first, then the usual filters, created_at
        # last so that a filtered page comes in index order.
        Index("ix_cases_listing", "workspace_id", "archived", "created_at"),
        Index(
            "ix_cases_by_parent_status",
            "workspace_id",
            "archived",
            "parent_status",
            "waiting_for",
            "created_at",
        ),
        Index("ix_cases_by_status", "workspace_id", "archived", "status", "created_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("case_templates.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(120))
    parent_status: Mapped[str] = mapped_column(String(16))
    waiting_for: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    # `archived` mirrors `archived_at IS NOT NULL` so that indexes can lead with it.
    archived: Mapped[bool] = mapped_column(default=False)
    archived_at: Mapped[datetime | None]
    schema: Mapped[list[dict[str, Any]]]  # field definitions, without their values
    data: Mapped[dict[str, Any]]  # values by field key
    config: Mapped[dict[str, Any]]  # statuses, initial_status, contact roles, steps
    # The case's contacts as the API shows them (JSON text, the main contact first), written
    # with them (service.create, service.upsert_contacts): a list page takes them from here, not
    # from 300 rows of case_contacts. GET /v1/cases/{id} reads the rows.
    contacts_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")


class CaseContact(IdMixin, TimestampMixin, Base):
    __tablename__ = "case_contacts"
    __table_args__ = (
        UniqueConstraint("case_id", "key"),
        Index("ix_case_contacts_family_name", "workspace_id", "family_name"),
        Index("ix_case_contacts_given_name", "workspace_id", "given_name"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(120))
    main: Mapped[bool]
    name: Mapped[str | None] = mapped_column(String(400))
    email: Mapped[str | None] = mapped_column(String(320))
    given_name: Mapped[str | None] = mapped_column(String(200))
    family_name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    locale: Mapped[str | None] = mapped_column(String(16))


# The contact filters compare emails in lower case (kit.filters: case_insensitive).
Index(
    "ix_case_contacts_lower_email",
    CaseContact.workspace_id,
    func.lower(CaseContact.email),
)


class CaseTally(Base):
    """How many cases there are per workspace, template, status, parent status, waiting_for
    and archival, as deltas (as `FormTally` for forms).

    Database triggers (migration 0010) append a row for every change of those columns, in the
    transaction of the change, so that counts filtered only on them are exact without
    counting cases (`repository.count_cases`); rows of one key are summed into one from time
    to time (`repository.compact_tallies`).
    """

    __tablename__ = "case_tallies"
    __table_args__ = (Index("ix_case_tallies_key", "workspace_id", "archived"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    workspace_id: Mapped[uuid.UUID]
    template_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(String(120))
    parent_status: Mapped[str] = mapped_column(String(16))
    waiting_for: Mapped[str] = mapped_column(String(16))
    archived: Mapped[bool]
    delta: Mapped[int] = mapped_column(BigInteger)


class CaseStep(IdMixin, TimestampMixin, Base):
    """A step of a case, from its template: available until started; a form step then
    follows its form (sent, completed, declined)."""

    __tablename__ = "case_steps"
    __table_args__ = (UniqueConstraint("case_id", "key"),)

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    form_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("forms.id", ondelete="SET NULL"), index=True
    )
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    data: Mapped[dict[str, Any]]


class CaseEvent(IdMixin, Base):
    """One line of a case's timeline: when, who, what changed."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case", "case_id", "at"),)

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor: Mapped[dict[str, Any]]  # {"type": "token"|"contact"|"system", "id", "name"}
    kind: Mapped[str] = mapped_column(String(40))
    changes: Mapped[dict[str, Any]]

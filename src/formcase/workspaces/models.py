from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from formcase.db.base import Base, IdMixin, TimestampMixin


class Workspace(IdMixin, TimestampMixin, Base):
    __tablename__ = "workspaces"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Member(IdMixin, TimestampMixin, Base):
    """A person of a workspace; owners of forms (and later cases) are members, by email."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    given_name: Mapped[str | None] = mapped_column(String(200))
    family_name: Mapped[str | None] = mapped_column(String(200))


class WorkspaceCertificate(IdMixin, TimestampMixin, Base):
    """The key and certificate a workspace signs its PDFs with (PAdES). Generated with the
    workspace, replaceable by the operator's own PKCS#12. The private key never leaves the
    database unencrypted: `pkcs12` is encrypted with the server's secret key."""

    __tablename__ = "workspace_certificates"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), unique=True
    )
    pkcs12: Mapped[bytes] = mapped_column(LargeBinary)
    certificate_pem: Mapped[str] = mapped_column(Text)  # the public part, for verifiers
    subject: Mapped[str] = mapped_column(String(500))
    fingerprint_sha256: Mapped[str] = mapped_column(String(64))
    not_after: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))  # generated | imported

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from formcase.db.base import Base, IdMixin, TimestampMixin

token_workspaces = Table(
    "token_workspaces",
    Base.metadata,
    Column("token_id", ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
)


class ApiToken(IdMixin, TimestampMixin, Base):
    """A `pnbx_` API token. Only the SHA-256 of the secret is kept; it is shown once."""

    __tablename__ = "api_tokens"

    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the secret, so that a person can tell tokens apart in a list.
    hint: Mapped[str] = mapped_column(String(16))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

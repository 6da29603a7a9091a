from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from formcase.db.base import Base, IdMixin, TimestampMixin


class Signature(IdMixin, TimestampMixin, Base):
    """A signature a contact drew on the fill page for one signature element: the drawn image,
    the documents it was put on, and the signed result (all attachments of the response)."""

    __tablename__ = "signatures"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    response_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(120))  # the signature element's key
    name: Mapped[str] = mapped_column(String(255))  # the signed package's name
    status: Mapped[str] = mapped_column(String(16))  # completed
    method: Mapped[str] = mapped_column(String(32))  # electronic (drawn, PAdES-sealed)
    merge: Mapped[bool]
    locale: Mapped[str | None] = mapped_column(String(16))
    signer_name: Mapped[str | None] = mapped_column(String(400))
    signer_email: Mapped[str | None] = mapped_column(String(320))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(1000))
    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("attachments.id"))  # drawn PNG
    signed_file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("attachments.id"))  # signed PDF
    # What was signed: [{"name", "attachment_id", "sha256", "pages"}], in signing order.
    documents: Mapped[list[dict[str, Any]]]
    sha256: Mapped[str] = mapped_column(String(64))  # of the signed file as delivered

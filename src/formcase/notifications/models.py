from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from formcase.db.base import Base, IdMixin, TimestampMixin


class Notification(IdMixin, TimestampMixin, Base):
    """One message to a contact about a form (an email or an SMS), shown read-only in the
    form's `notifications[]`. Written `pending` in the transaction of what causes it; the
    worker sends it and records how that went."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_form", "form_id", "created_at"),
        Index("ix_notifications_case", "case_id", "created_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    # About a form (invitations, reminders, confirmations) or a case (its email/SMS steps).
    form_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("forms.id", ondelete="CASCADE"))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # invitation, reminder, confirmation, case_step
    method: Mapped[str] = mapped_column(String(8))  # email, sms
    status: Mapped[str] = mapped_column(String(8))  # pending, sent, failed, skipped
    at: Mapped[datetime]  # when it was written, then when it was sent (or given up)
    to: Mapped[str] = mapped_column(String(320))
    sender: Mapped[str | None] = mapped_column(String(400))
    cc: Mapped[str | None] = mapped_column(String(2000))
    bcc: Mapped[str | None] = mapped_column(String(2000))
    system: Mapped[bool]
    locale: Mapped[str] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(String(64))
    variables: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(400))
    attachments: Mapped[dict[str, Any] | None]
    deleted_at: Mapped[datetime | None]

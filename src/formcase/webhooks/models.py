from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from formcase.db.base import Base, IdMixin, TimestampMixin


class WebhookSubscription(IdMixin, TimestampMixin, Base):
    """Where to send which events: a workspace's (/v1/webhooks) or one form's (the `webhooks`
    map given when the form was created: `form_id` set)."""

    __tablename__ = "webhook_subscriptions"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    form_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("forms.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]]  # event kinds; requests:* aliases stored as forms:*
    active: Mapped[bool]
    # The Standard Webhooks secret (whsec_…), encrypted with the server's secret key: it must
    # be read back to sign, so it cannot be hashed.
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    # The secret a rotation replaced, still signing (a second `webhook-signature`) until
    # `previous_secret_expires_at`, so that receivers can switch without losing messages.
    previous_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_reason: Mapped[str | None] = mapped_column(Text)


class WebhookDelivery(IdMixin, TimestampMixin, Base):
    """One message to one subscription: the events of one batch, the body frozen when it was
    made (a retry sends the same bytes with the same `webhook-id` = this id).

    Deliveries of one subscription about one object (`object_id`: a form, a case) are sent
    in the order of `sequence`, the object's count of changes when the batch committed:
    one waits while an earlier one is pending. Rows from before migration 0013 have
    neither and wait for nothing."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_order", "subscription_id", "object_id", "sequence"),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True
    )
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    batch_id: Mapped[uuid.UUID]
    events: Mapped[list[str]]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None]
    object_id: Mapped[uuid.UUID | None]  # the form (of forms:* and responses:*) or the case
    sequence: Mapped[int | None] = mapped_column(Integer)
    # The job sending it (the latest, after a redelivery): woken when the delivery before it
    # ends. No foreign key: done jobs are purged.
    job_id: Mapped[uuid.UUID | None]


class WebhookAttempt(IdMixin, Base):
    """One try of a delivery: what the receiver answered, or why it could not."""

    __tablename__ = "webhook_attempts"

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)  # the first 2,000 characters
    error: Mapped[str | None] = mapped_column(Text)


class ServerKey(IdMixin, TimestampMixin, Base):
    """The server's own signing keys (RS256 for Penbox's `x-pnbx-signature` JWT), published
    at /.well-known/jwks.json; the private key encrypted with the server's secret key."""

    __tablename__ = "server_keys"

    purpose: Mapped[str] = mapped_column(String(32), index=True)  # webhook-jwt
    key_id: Mapped[str] = mapped_column(String(64), unique=True)  # the JWK `kid`
    private_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, Any]]
    active: Mapped[bool]

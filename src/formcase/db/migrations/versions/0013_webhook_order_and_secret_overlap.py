"""webhook deliveries in order per object; a rotated secret's overlap

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

* event_sequences: per object (a form, a case) the count of its changes that published
  events; events.sequence, webhook_deliveries.sequence and .object_id: what a delivery waits
  for (docs/webhooks.md, "Order"); webhook_deliveries.job_id: the job to wake when the
  delivery before it ends. Existing rows keep NULLs and wait for nothing.
* webhook_subscriptions.previous_secret_*: the secret a rotation replaced, still signing
  until it expires.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import formcase.db.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_sequences",
        sa.Column("object_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_event_sequences_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("object_id", name=op.f("pk_event_sequences")),
    )
    op.create_index(op.f("ix_event_sequences_workspace_id"), "event_sequences", ["workspace_id"])
    op.add_column("events", sa.Column("sequence", sa.Integer(), nullable=True))
    op.add_column("webhook_deliveries", sa.Column("object_id", sa.Uuid(), nullable=True))
    op.add_column("webhook_deliveries", sa.Column("sequence", sa.Integer(), nullable=True))
    op.add_column("webhook_deliveries", sa.Column("job_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_webhook_deliveries_order",
        "webhook_deliveries",
        ["subscription_id", "object_id", "sequence"],
    )
    op.add_column(
        "webhook_subscriptions",
        sa.Column("previous_secret_encrypted", sa.LargeBinary(), nullable=True),
    )
    op.add_column(
        "webhook_subscriptions",
        sa.Column(
            "previous_secret_expires_at",
            formcase.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch_op:
        batch_op.drop_column("previous_secret_expires_at")
        batch_op.drop_column("previous_secret_encrypted")
    op.drop_index("ix_webhook_deliveries_order", table_name="webhook_deliveries")
    with op.batch_alter_table("webhook_deliveries") as batch_op:
        batch_op.drop_column("job_id")
        batch_op.drop_column("sequence")
        batch_op.drop_column("object_id")
    with op.batch_alter_table("events") as batch_op:
        batch_op.drop_column("sequence")
    op.drop_index(op.f("ix_event_sequences_workspace_id"), table_name="event_sequences")
    op.drop_table("event_sequences")

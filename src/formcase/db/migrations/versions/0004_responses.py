"""responses

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 14:05:04.432995
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import formcase.db.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "responses",
        sa.Column("form_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("data", formcase.db.base.JSONType, nullable=False),
        sa.Column("step", sa.String(length=64), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=1000), nullable=True),
        sa.Column("accept_language", sa.String(length=200), nullable=True),
        sa.Column("completed_at", formcase.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("declined_at", formcase.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("rating", sa.String(length=50), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", formcase.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", formcase.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["form_id"], ["forms.id"], name=op.f("fk_responses_form_id_forms"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_responses_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responses")),
    )
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_responses_form_id"), ["form_id"], unique=False)

    op.create_table(
        "response_events",
        sa.Column("response_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=True),
        sa.Column("at", formcase.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=1000), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["responses.id"],
            name=op.f("fk_response_events_response_id_responses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_response_events")),
    )
    with op.batch_alter_table("response_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_response_events_response_id"), ["response_id"], unique=False
        )

    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("response_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("element_key", sa.String(length=120), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_attachments_response_id"), ["response_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_attachments_response_id_responses"),
            "responses",
            ["response_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_attachments_response_id_responses"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_attachments_response_id"))
        batch_op.drop_column("element_key")
        batch_op.drop_column("response_id")

    with op.batch_alter_table("response_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_response_events_response_id"))

    op.drop_table("response_events")
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_responses_form_id"))

    op.drop_table("responses")

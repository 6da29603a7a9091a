"""document intelligence jobs

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22

Document-intelligence jobs (docs/document-intelligence.md): what to read, what to find, and
the results the worker writes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import formcase.db.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "docintel_jobs",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("token_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("template", sa.String(length=64), nullable=True),
        sa.Column("fields", formcase.db.base.JSONType, nullable=True),
        sa.Column("attachments", formcase.db.base.JSONType, nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("results", formcase.db.base.JSONType, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", formcase.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", formcase.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", formcase.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", formcase.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_docintel_jobs_token_id_api_tokens"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_docintel_jobs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_docintel_jobs")),
    )
    with op.batch_alter_table("docintel_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_docintel_jobs_workspace", ["workspace_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("docintel_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_docintel_jobs_workspace")

    op.drop_table("docintel_jobs")

"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 12:30:28.153660
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import formcase.db.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        sa.Column("last_used_at", formcase.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", formcase.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", formcase.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", formcase.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "workspaces",
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", formcase.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", formcase.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
        sa.UniqueConstraint("slug", name=op.f("uq_workspaces_slug")),
    )
    op.create_table(
        "form_templates",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("archived_at", formcase.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", formcase.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", formcase.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_form_templates_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_templates")),
        sa.UniqueConstraint("workspace_id", "slug", name=op.f("uq_form_templates_workspace_id")),
    )
    with op.batch_alter_table("form_templates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_form_templates_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "members",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("given_name", sa.String(length=200), nullable=True),
        sa.Column("family_name", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", formcase.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", formcase.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_members_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("workspace_id", "email", name=op.f("uq_members_workspace_id")),
    )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_members_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "token_workspaces",
        sa.Column("token_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_token_workspaces_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_token_workspaces_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", "workspace_id", name=op.f("pk_token_workspaces")),
    )
    op.create_table(
        "form_template_versions",
        sa.Column("template_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", formcase.db.base.JSONType, nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("created_at", formcase.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["form_templates.id"],
            name=op.f("fk_form_template_versions_template_id_form_templates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_template_versions")),
        sa.UniqueConstraint(
            "template_id", "version", name=op.f("uq_form_template_versions_template_id")
        ),
    )
    op.create_table(
        "forms",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("template_id", sa.Uuid(), nullable=False),
        sa.Column("template_version_id", sa.Uuid(), nullable=False),
        sa.Column("flow_slug", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("archived_at", formcase.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("processed_at", formcase.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("active_from", formcase.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("active_until", formcase.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fill_token", sa.String(length=64), nullable=False),
        sa.Column("user_anonymous", sa.Boolean(), nullable=False),
        sa.Column("user_email", sa.String(length=320), nullable=True),
        sa.Column("user_phone", sa.String(length=32), nullable=True),
        sa.Column("user_given_name", sa.String(length=200), nullable=True),
        sa.Column("user_family_name", sa.String(length=200), nullable=True),
        sa.Column("user_locale", sa.String(length=16), nullable=True),
        sa.Column("user_internal_ref", sa.String(length=200), nullable=True),
        sa.Column("user_company_name", sa.String(length=200), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("data", formcase.db.base.JSONType, nullable=False),
        sa.Column("external_args", formcase.db.base.JSONType, nullable=False),
        sa.Column("options", formcase.db.base.JSONType, nullable=False),
        sa.Column("webhooks", formcase.db.base.JSONType, nullable=False),
        sa.Column("redirect_url", sa.String(length=2048), nullable=True),
        sa.Column("branding_slug", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", formcase.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", formcase.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["members.id"],
            name=op.f("fk_forms_owner_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"], ["form_templates.id"], name=op.f("fk_forms_template_id_form_templates")
        ),
        sa.ForeignKeyConstraint(
            ["template_version_id"],
            ["form_template_versions.id"],
            name=op.f("fk_forms_template_version_id_form_template_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_forms_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forms")),
        sa.UniqueConstraint("fill_token", name=op.f("uq_forms_fill_token")),
    )
    with op.batch_alter_table("forms", schema=None) as batch_op:
        batch_op.create_index(
            "ix_forms_by_status", ["workspace_id", "archived", "status", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_forms_by_template_status",
            ["workspace_id", "archived", "flow_slug", "status", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_forms_listing", ["workspace_id", "archived", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_forms_template_id"), ["template_id"], unique=False)
        batch_op.create_index("ix_forms_user_email", ["workspace_id", "user_email"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("forms", schema=None) as batch_op:
        batch_op.drop_index("ix_forms_user_email")
        batch_op.drop_index(batch_op.f("ix_forms_template_id"))
        batch_op.drop_index("ix_forms_listing")
        batch_op.drop_index("ix_forms_by_template_status")
        batch_op.drop_index("ix_forms_by_status")

    op.drop_table("forms")
    op.drop_table("form_template_versions")
    op.drop_table("token_workspaces")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_workspace_id"))

    op.drop_table("members")
    with op.batch_alter_table("form_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_form_templates_workspace_id"))

    op.drop_table("form_templates")
    op.drop_table("workspaces")
    op.drop_table("api_tokens")

"""form tallies: exact form counts without counting forms

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

Triggers keep `form_tallies` in step with `forms` in the same transaction as every change:
on PostgreSQL one statement-level trigger per operation adds one row per changed key (so a
bulk insert of a million forms adds a handful of rows); on SQLite, row-level triggers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "workspace_id, flow_slug, status, archived"

POSTGRESQL = [
    f"""
    CREATE FUNCTION formcase_tally_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO form_tallies ({KEY}, delta)
      SELECT {KEY}, count(*) FROM new_rows GROUP BY {KEY};
      RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION formcase_tally_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO form_tallies ({KEY}, delta)
      SELECT {KEY}, -count(*) FROM old_rows GROUP BY {KEY};
      RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION formcase_tally_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO form_tallies ({KEY}, delta)
      SELECT {KEY}, sum(delta) FROM (
        SELECT {KEY}, -1 AS delta FROM old_rows
        UNION ALL
        SELECT {KEY}, 1 AS delta FROM new_rows
      ) AS changes
      GROUP BY {KEY}
      HAVING sum(delta) <> 0;
      RETURN NULL;
    END $$
    """,
    """CREATE TRIGGER formcase_tally_insert AFTER INSERT ON forms
       REFERENCING NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION formcase_tally_insert()""",
    """CREATE TRIGGER formcase_tally_delete AFTER DELETE ON forms
       REFERENCING OLD TABLE AS old_rows
       FOR EACH STATEMENT EXECUTE FUNCTION formcase_tally_delete()""",
    """CREATE TRIGGER formcase_tally_update AFTER UPDATE ON forms
       REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION formcase_tally_update()""",
]

SQLITE = [
    f"""CREATE TRIGGER formcase_tally_insert AFTER INSERT ON forms BEGIN
          INSERT INTO form_tallies ({KEY}, delta)
          VALUES (NEW.workspace_id, NEW.flow_slug, NEW.status, NEW.archived, 1);
        END""",
    f"""CREATE TRIGGER formcase_tally_delete AFTER DELETE ON forms BEGIN
          INSERT INTO form_tallies ({KEY}, delta)
          VALUES (OLD.workspace_id, OLD.flow_slug, OLD.status, OLD.archived, -1);
        END""",
    f"""CREATE TRIGGER formcase_tally_update AFTER UPDATE OF {KEY} ON forms
        WHEN OLD.workspace_id IS NOT NEW.workspace_id OR OLD.flow_slug IS NOT NEW.flow_slug
          OR OLD.status IS NOT NEW.status OR OLD.archived IS NOT NEW.archived
        BEGIN
          INSERT INTO form_tallies ({KEY}, delta)
          VALUES (OLD.workspace_id, OLD.flow_slug, OLD.status, OLD.archived, -1);
          INSERT INTO form_tallies ({KEY}, delta)
          VALUES (NEW.workspace_id, NEW.flow_slug, NEW.status, NEW.archived, 1);
        END""",
]


def upgrade() -> None:
    op.create_table(
        "form_tallies",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("flow_slug", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_tallies")),
    )
    op.create_index(
        "ix_form_tallies_key",
        "form_tallies",
        ["workspace_id", "archived", "flow_slug", "status"],
    )
    op.execute(
        f"INSERT INTO form_tallies ({KEY}, delta) SELECT {KEY}, count(*) FROM forms GROUP BY {KEY}"
    )
    statements = POSTGRESQL if op.get_bind().dialect.name == "postgresql" else SQLITE
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER formcase_tally_{name} ON forms")
            op.execute(f"DROP FUNCTION formcase_tally_{name}()")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER formcase_tally_{name}")
    op.drop_index("ix_form_tallies_key", table_name="form_tallies")
    op.drop_table("form_tallies")

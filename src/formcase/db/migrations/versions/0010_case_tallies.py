"""case tallies and the contact email index: counts and contact filters at 1M cases

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21

`case_tallies` does for cases what `form_tallies` (0002) does for forms: triggers append, in
the transaction of every change, one delta per changed key (workspace, template, status,
parent status, waiting for, archived) (statement-level on PostgreSQL, row-level on SQLite),
so that counts filtered on those columns sum a few rows instead of counting cases
(bench/cases.py: counting 1M cases took 190 ms a request).

The contact filters compare `lower(email)` (emails match whatever their case), which the index
on `(workspace_id, email)` cannot serve: `contact[email]=` read all 3M contacts (0.9 s, and
5.5 s for the page). The index is now on `(workspace_id, lower(email))`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "workspace_id, template_id, status, parent_status, waiting_for, archived"

POSTGRESQL = [
    f"""
    CREATE FUNCTION formcase_case_tally_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO case_tallies ({KEY}, delta)
      SELECT {KEY}, count(*) FROM new_rows GROUP BY {KEY};
      RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION formcase_case_tally_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO case_tallies ({KEY}, delta)
      SELECT {KEY}, -count(*) FROM old_rows GROUP BY {KEY};
      RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION formcase_case_tally_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO case_tallies ({KEY}, delta)
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
    """CREATE TRIGGER formcase_case_tally_insert AFTER INSERT ON cases
       REFERENCING NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION formcase_case_tally_insert()""",
    """CREATE TRIGGER formcase_case_tally_delete AFTER DELETE ON cases
       REFERENCING OLD TABLE AS old_rows
       FOR EACH STATEMENT EXECUTE FUNCTION formcase_case_tally_delete()""",
    """CREATE TRIGGER formcase_case_tally_update AFTER UPDATE ON cases
       REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION formcase_case_tally_update()""",
]


def _values(row: str) -> str:
    return ", ".join(f"{row}.{column.strip()}" for column in KEY.split(","))


_CHANGED = " OR ".join(
    f"OLD.{column.strip()} IS NOT NEW.{column.strip()}" for column in KEY.split(",")
)

SQLITE = [
    f"""CREATE TRIGGER formcase_case_tally_insert AFTER INSERT ON cases BEGIN
          INSERT INTO case_tallies ({KEY}, delta) VALUES ({_values("NEW")}, 1);
        END""",
    f"""CREATE TRIGGER formcase_case_tally_delete AFTER DELETE ON cases BEGIN
          INSERT INTO case_tallies ({KEY}, delta) VALUES ({_values("OLD")}, -1);
        END""",
    f"""CREATE TRIGGER formcase_case_tally_update AFTER UPDATE OF {KEY} ON cases
        WHEN {_CHANGED}
        BEGIN
          INSERT INTO case_tallies ({KEY}, delta) VALUES ({_values("OLD")}, -1);
          INSERT INTO case_tallies ({KEY}, delta) VALUES ({_values("NEW")}, 1);
        END""",
]


def upgrade() -> None:
    op.create_table(
        "case_tallies",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("template_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=120), nullable=False),
        sa.Column("parent_status", sa.String(length=16), nullable=False),
        sa.Column("waiting_for", sa.String(length=16), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_tallies")),
    )
    op.create_index("ix_case_tallies_key", "case_tallies", ["workspace_id", "archived"])
    op.execute(
        f"INSERT INTO case_tallies ({KEY}, delta) SELECT {KEY}, count(*) FROM cases GROUP BY {KEY}"
    )
    statements = POSTGRESQL if op.get_bind().dialect.name == "postgresql" else SQLITE
    for statement in statements:
        op.execute(statement)

    op.drop_index("ix_case_contacts_email", table_name="case_contacts")
    op.create_index(
        "ix_case_contacts_lower_email",
        "case_contacts",
        ["workspace_id", sa.text("lower(email)")],
    )


def downgrade() -> None:
    op.drop_index("ix_case_contacts_lower_email", table_name="case_contacts")
    op.create_index("ix_case_contacts_email", "case_contacts", ["workspace_id", "email"])
    if op.get_bind().dialect.name == "postgresql":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER formcase_case_tally_{name} ON cases")
            op.execute(f"DROP FUNCTION formcase_case_tally_{name}()")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER formcase_case_tally_{name}")
    op.drop_index("ix_case_tallies_key", table_name="case_tallies")
    op.drop_table("case_tallies")

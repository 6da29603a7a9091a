"""cases.contacts_json

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22

Each case keeps its contacts as the API shows them, as JSON text, so that a list page of 100
cases reads 100 values instead of 300 contact rows (docs/benchmarks.md, "Cases list and
count"). Existing cases get theirs from case_contacts: in one statement on PostgreSQL
(`row_to_json` writes compact JSON, as the server does), contact by contact elsewhere.
"""

import itertools
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As the API shows a contact, in the order a case shows them (the main contact first).
_SHOWN = "id, key, name, email, given_name, family_name, phone, main"
_ORDER = "main DESC, created_at, key"

_POSTGRESQL_FILL = f"""
UPDATE cases SET contacts_json = shown.json
FROM (
    SELECT case_id, '[' || string_agg(
        (SELECT row_to_json(shown) FROM (SELECT {_SHOWN}) AS shown)::text, ',' ORDER BY {_ORDER}
    ) || ']' AS json
    FROM case_contacts
    GROUP BY case_id
) AS shown
WHERE cases.id = shown.case_id
"""


def _default(value: Any) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(type(value).__name__)


def upgrade() -> None:
    op.add_column(
        "cases", sa.Column("contacts_json", sa.Text(), server_default="[]", nullable=False)
    )
    fill(op.get_bind())


def fill(bind: sa.Connection) -> None:
    """Every case's contacts_json from its case_contacts (tests/cases check it against what
    the server writes)."""
    if bind.dialect.name == "postgresql":
        bind.execute(sa.text(_POSTGRESQL_FILL))
        return
    contacts = sa.table(
        "case_contacts",
        *(sa.column(name) for name in ("case_id", "created_at", *_SHOWN.split(", "))),
    )
    contacts.c.id.type = contacts.c.case_id.type = sa.Uuid()
    contacts.c.main.type = sa.Boolean()
    rows = bind.execute(
        sa.select(contacts).order_by(
            contacts.c.case_id, contacts.c.main.desc(), contacts.c.created_at, contacts.c.key
        )
    ).mappings()
    cases = sa.table("cases", sa.column("id", sa.Uuid()), sa.column("contacts_json", sa.Text()))
    write = (
        cases.update()
        .where(cases.c.id == sa.bindparam("case_id"))
        .values(contacts_json=sa.bindparam("json"))
    )
    # Read as a stream, case by case, written a thousand cases at a time.
    batch: list[dict[str, Any]] = []
    for case_id, shown in itertools.groupby(rows, key=lambda row: row["case_id"]):
        listed = [{name: row[name] for name in _SHOWN.split(", ")} for row in shown]
        batch.append({"case_id": case_id, "json": orjson.dumps(listed, default=_default).decode()})
        if len(batch) == 1000:
            bind.execute(write, batch)
            batch = []
    if batch:
        bind.execute(write, batch)


def downgrade() -> None:
    op.drop_column("cases", "contacts_json")

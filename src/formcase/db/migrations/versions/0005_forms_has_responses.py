"""forms.has_responses: skip the responses query for forms nobody opened

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE, also on SQLite: a batch (copy-and-rename) rebuild of `forms` would drop
# the tally triggers of migration 0002.
def upgrade() -> None:
    op.add_column(
        "forms",
        sa.Column("has_responses", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute("UPDATE forms SET has_responses = true WHERE id IN (SELECT form_id FROM responses)")


def downgrade() -> None:
    op.execute("ALTER TABLE forms DROP COLUMN has_responses")  # SQLite 3.35+ can, in place

"""What a running job's progress counts: passages embedded, or scanned pages
recognised (text recognition comes first, and takes longest).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("progress_unit", sa.Text))


def downgrade() -> None:
    op.drop_column("jobs", "progress_unit")

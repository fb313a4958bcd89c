"""Failures tried again: how many times a document's content (or a path) has failed in
a row, and when it is next tried (null: not until the file changes, or a person asks).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("documents", "files"):
        op.add_column(table, sa.Column("failures", sa.Integer, server_default="0", nullable=False))
        op.add_column(table, sa.Column("retry_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    for table in ("documents", "files"):
        op.drop_column(table, "retry_at")
        op.drop_column(table, "failures")

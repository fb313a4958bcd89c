"""How long each document took to ingest (read, chunk, embed, store), so the app can
say how long the files still waiting will take.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("ingest_seconds", sa.Float))


def downgrade() -> None:
    op.drop_column("documents", "ingest_seconds")

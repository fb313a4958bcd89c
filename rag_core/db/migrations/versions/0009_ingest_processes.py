"""The watchers and workers alive: each process beats a row every few seconds, so the
app can tell staff when ingestion has stopped.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_processes",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("watches", sa.Boolean, nullable=False),
        sa.Column("drop_dir", sa.Text),
        sa.Column(
            "started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("ingest_processes")

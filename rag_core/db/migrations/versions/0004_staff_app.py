"""What the staff app needs: feedback comments, the sources shown with each answer,
and re-index requests in the job queue.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("query_log", sa.Column("feedback_comment", sa.Text))
    op.add_column(
        "query_log",
        sa.Column("sources", postgresql.JSONB, server_default="[]", nullable=False),
    )
    op.add_column("jobs", sa.Column("reindex", sa.Boolean, server_default="false", nullable=False))


def downgrade() -> None:
    op.drop_column("jobs", "reindex")
    op.drop_column("query_log", "sources")
    op.drop_column("query_log", "feedback_comment")

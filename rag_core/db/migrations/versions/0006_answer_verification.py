"""Answers built on checked evidence: the mode each answer was given in, and how many
of the model's sentences were written and how many of those were verified.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("query_log", sa.Column("answer_mode", sa.Text))
    for name in ("sentences_written", "sentences_verified"):
        op.add_column("query_log", sa.Column(name, sa.Integer, server_default="0", nullable=False))


def downgrade() -> None:
    for name in ("sentences_verified", "sentences_written", "answer_mode"):
        op.drop_column("query_log", name)

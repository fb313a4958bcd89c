"""A change of embedding model: each passage's vector from the new model is kept
beside the one in use (`embedding_next`) until every passage has one, then they are
switched in one transaction (`rag_core.search.model_change`).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("chunks", sa.Column("embedding_next", Vector(384), nullable=True))


def downgrade() -> None:
    op.drop_column("chunks", "embedding_next")

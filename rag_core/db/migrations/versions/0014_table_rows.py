"""Table rows with their headers (`rag_core.figures.rows`): the rows a computed figure
quotes.  Documents read before this version have none until they are read again (the
Documents page's Re-index, or the file changed); their passages still answer.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "table_rows",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column(
            "document_id",
            sa.BigInteger,
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("page", sa.Integer),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("periods", ARRAY(sa.Integer), nullable=False),
        sa.Column("cells", ARRAY(sa.Text), nullable=False),
    )
    op.create_index("ix_table_rows_document_id", "table_rows", ["document_id"])


def downgrade() -> None:
    op.drop_table("table_rows")

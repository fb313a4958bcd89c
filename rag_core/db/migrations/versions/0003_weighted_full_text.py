"""Full text with the title weighted above the body, in a configurable language.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Written out rather than imported, so this revision means the same whatever
# rag_core.db.textsearch becomes.
WEIGHTED = (
    "setweight(to_tsvector('english'::regconfig, heading), 'A')"
    " || setweight(to_tsvector('english'::regconfig, text), 'D')"
)
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_state",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.execute("INSERT INTO app_state (key, value) VALUES ('text_search_config', 'english')")
    # The document's title as words, on each of its passages (a generated column
    # cannot look into another table).
    op.add_column("chunks", sa.Column("heading", sa.Text, nullable=False, server_default=""))
    op.execute(r"""
        UPDATE chunks c SET heading = btrim(regexp_replace(d.title, '[\W_]+', ' ', 'g'))
        FROM documents d WHERE d.id = c.document_id
    """)
    op.drop_index("ix_chunks_tsv", table_name="chunks")
    op.drop_column("chunks", "tsv")
    op.add_column(
        "chunks",
        sa.Column(
            "tsv",
            postgresql.TSVECTOR,
            sa.Computed(WEIGHTED, persisted=True),
        ),
    )
    op.create_index("ix_chunks_tsv", "chunks", ["tsv"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_chunks_tsv", table_name="chunks")
    op.drop_column("chunks", "tsv")
    op.add_column(
        "chunks",
        sa.Column(
            "tsv",
            postgresql.TSVECTOR,
            sa.Computed("to_tsvector('english', text)", persisted=True),
        ),
    )
    op.create_index("ix_chunks_tsv", "chunks", ["tsv"], postgresql_using="gin")
    op.drop_column("chunks", "heading")
    op.drop_table("app_state")

"""Each passage's section (the path of headings it falls under), searchable with the
weight B: above the body, below the document's title.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _expression(sections: bool) -> str:
    """The tsv column's expression in the language the database uses now."""
    config = (
        op.get_bind()
        .execute(sa.text("SELECT value FROM app_state WHERE key = 'text_search_config'"))
        .scalar()
        or "english"
    )
    literal = "'" + config.replace("'", "''") + "'::regconfig"
    parts = [f"setweight(to_tsvector({literal}, heading), 'A')"]
    if sections:
        parts.append(f"setweight(to_tsvector({literal}, section), 'B')")
    parts.append(f"setweight(to_tsvector({literal}, text), 'D')")
    return " || ".join(parts)


def upgrade() -> None:
    op.add_column("chunks", sa.Column("section", sa.Text, nullable=False, server_default=""))
    op.execute(f"ALTER TABLE chunks ALTER COLUMN tsv SET EXPRESSION AS ({_expression(True)})")
    op.execute("SELECT term_stats_rebuild()")


def downgrade() -> None:
    op.execute(f"ALTER TABLE chunks ALTER COLUMN tsv SET EXPRESSION AS ({_expression(False)})")
    op.drop_column("chunks", "section")
    op.execute("SELECT term_stats_rebuild()")

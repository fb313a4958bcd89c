"""Initial schema: documents, chunks (vector + full text), query_log.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "documents",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("source_path", sa.Text, nullable=False),
        sa.Column("content_hash", sa.Text, nullable=False),
        sa.Column("document_type", sa.Text),
        sa.Column("tags", postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("metadata", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("page_count", sa.Integer),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("status IN ('processing', 'ready', 'failed')", name="status_known"),
    )
    op.create_index("ix_documents_source_path", "documents", ["source_path"])
    op.create_index("ix_documents_content_hash", "documents", ["content_hash"])
    # One served version per file.
    op.create_index(
        "uq_documents_active_source",
        "documents",
        ["source_path"],
        unique=True,
        postgresql_where=sa.text("is_active"),
    )
    op.create_index("ix_documents_tags", "documents", ["tags"], postgresql_using="gin")

    op.create_table(
        "chunks",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "document_id",
            sa.BigInteger,
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("chunk_index", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("page_start", sa.Integer),
        sa.Column("page_end", sa.Integer),
        sa.Column("token_count", sa.Integer, nullable=False),
        sa.Column("embedding", Vector(384), nullable=False),
        sa.Column(
            "tsv", postgresql.TSVECTOR, sa.Computed("to_tsvector('english', text)", persisted=True)
        ),
        sa.UniqueConstraint("document_id", "chunk_index", name="uq_chunks_document_index"),
    )
    op.create_index("ix_chunks_document_id", "chunks", ["document_id"])
    op.create_index(
        "ix_chunks_embedding_hnsw",
        "chunks",
        ["embedding"],
        postgresql_using="hnsw",
        postgresql_with={"m": 16, "ef_construction": 64},
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )
    op.create_index("ix_chunks_tsv", "chunks", ["tsv"], postgresql_using="gin")

    op.create_table(
        "query_log",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("embedding", Vector(384)),
        sa.Column("answer", sa.Text),
        sa.Column("abstained", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("retrieved", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("latency_ms", sa.Float),
        sa.Column("feedback", sa.SmallInteger),
        sa.Column("user_name", sa.Text),
        sa.CheckConstraint("feedback BETWEEN 1 AND 5", name="feedback_range"),
    )
    op.create_index("ix_query_log_created_at", "query_log", ["created_at"])


def downgrade() -> None:
    op.drop_table("query_log")
    op.drop_table("chunks")
    op.drop_table("documents")

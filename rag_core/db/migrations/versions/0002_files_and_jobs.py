"""Files and jobs: a document is one content (unique by hash); paths point at it; a job
queue in PostgreSQL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("path", sa.Text, primary_key=True),
        # The version search serves for this path; NULL until one is ready.
        sa.Column("document_id", sa.BigInteger, sa.ForeignKey("documents.id", ondelete="SET NULL")),
        # The newest attempt for this path (processing, failed or ready).
        sa.Column(
            "latest_document_id", sa.BigInteger, sa.ForeignKey("documents.id", ondelete="SET NULL")
        ),
        sa.Column("present", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Column("mtime_ns", sa.BigInteger),
        sa.Column("sidecar_mtime_ns", sa.BigInteger),
        # Why the path itself cannot be read (no content to make a document of).
        sa.Column("error", sa.Text),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("ix_files_document_id", "files", ["document_id"])
    op.create_index("ix_files_latest_document_id", "files", ["latest_document_id"])
    # Every existing path keeps its served and newest versions.
    op.execute("""
        INSERT INTO files (path, document_id, latest_document_id, present, size_bytes)
        SELECT DISTINCT ON (source_path) source_path,
               (SELECT a.id FROM documents a WHERE a.source_path = d.source_path AND a.is_active
                LIMIT 1),
               d.id, true, d.size_bytes
        FROM documents d ORDER BY source_path, version DESC
    """)
    op.drop_index("uq_documents_active_source", table_name="documents")
    op.drop_index("ix_documents_content_hash", table_name="documents")
    op.create_index("uq_documents_content_hash", "documents", ["content_hash"], unique=True)

    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="queued"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        # Also retry content that failed before (the staff's "retry" action).
        sa.Column("force", sa.Boolean, nullable=False, server_default="false"),
        sa.Column(
            "run_after", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("locked_by", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("progress_done", sa.Integer),
        sa.Column("progress_total", sa.Integer),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name="job_status_known"
        ),
    )
    # At most one waiting job per path: re-queuing a path that is already waiting is a
    # no-op.
    op.create_index(
        "uq_jobs_queued_path",
        "jobs",
        ["path"],
        unique=True,
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_index("ix_jobs_claimable", "jobs", ["status", "run_after"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_index("uq_documents_content_hash", table_name="documents")
    op.create_index("ix_documents_content_hash", "documents", ["content_hash"])
    op.create_index(
        "uq_documents_active_source",
        "documents",
        ["source_path"],
        unique=True,
        postgresql_where=sa.text("is_active"),
    )
    op.drop_table("files")

"""A site's own quality check (`rag_core.quality`): the cases (questions generated from
the library, answers staff rated well, low-rated answers an administrator corrected),
the runs of those cases through the live pipeline, and each case's result in a run.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quality_cases",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("origin", sa.Text, nullable=False),  # generated | rated | fixed
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text),  # the short answer a generated question expects
        sa.Column("answerable", sa.Boolean, nullable=False, server_default="true"),
        # [{"source", "title", "page", "page_end"}, ...]: any of them found is a hit
        sa.Column("expected", JSONB, nullable=False, server_default="[]"),
        sa.Column("document_id", sa.BigInteger),  # the passage's document (generated)
        sa.Column("query_log_id", sa.BigInteger, unique=True),  # the rated answer
        sa.Column("state", sa.Text, nullable=False, server_default="active"),
        sa.Column("created_by", sa.Text),
        sa.Column("details", JSONB, nullable=False, server_default="{}"),
    )
    op.create_table(
        "quality_runs",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("kind", sa.Text, nullable=False),  # generate | check
        sa.Column("state", sa.Text, nullable=False, server_default="queued"),
        sa.Column("started_by", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("request", JSONB, nullable=False, server_default="{}"),
        sa.Column("settings", JSONB, nullable=False, server_default="{}"),
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("figures", JSONB, nullable=False, server_default="{}"),
        sa.Column("message", sa.Text),
    )
    op.create_table(
        "quality_results",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column(
            "run_id",
            sa.BigInteger,
            sa.ForeignKey("quality_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "case_id",
            sa.BigInteger,
            sa.ForeignKey("quality_cases.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("found", JSONB, nullable=False, server_default="[]"),
        sa.Column("file_rank", sa.Integer),
        sa.Column("page_rank", sa.Integer),
        sa.Column("abstained", sa.Boolean, nullable=False),
        sa.Column("sentences_written", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sentences_verified", sa.Integer, nullable=False, server_default="0"),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.UniqueConstraint("run_id", "case_id", name="one_result_per_case"),
    )
    op.create_index("ix_quality_results_run_id", "quality_results", ["run_id"])


def downgrade() -> None:
    op.drop_table("quality_results")
    op.drop_table("quality_runs")
    op.drop_table("quality_cases")

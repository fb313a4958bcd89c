"""The ORM schema (SQLAlchemy 2).  The tables are created by the Alembic migrations in
`rag_core/db/migrations`, never by `create_all`.

A Document is one *content* (unique by hash) and a File is one path in the drop folder
pointing at the document it holds.  Renaming a file moves a path, two files with the same
content share one document, and a changed file points at a new document once that one
is ready, so the old version stays searchable until the new one is committed.
`Document.is_active` is kept equal to "ready and held by at least one present file".
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    SmallInteger,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from rag_core.db.textsearch import DEFAULT_CONFIG, tsv_expression

EMBEDDING_DIM = 384


class Base(DeclarativeBase):
    pass


class DocumentStatus(enum.StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    source_path: Mapped[str] = mapped_column(Text, index=True)  # first present path
    content_hash: Mapped[str] = mapped_column(Text, unique=True)
    document_type: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default="{}")
    status: Mapped[str] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    is_active: Mapped[bool] = mapped_column(Boolean, server_default="false")
    page_count: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # Seconds from taking the file to storing its passages (for the queue's time left).
    ingest_seconds: Mapped[float | None] = mapped_column(Float)
    # Failed reads of this content in a row, and when it is read again (null: not
    # until it changes or a person asks; `rag_core.ingestion.retries`).
    failures: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    chunks: Mapped[list[Chunk]] = relationship(
        back_populates="document", cascade="all, delete-orphan", passive_deletes=True
    )


class Chunk(Base):
    __tablename__ = "chunks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    chunk_index: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    page_start: Mapped[int | None] = mapped_column(Integer)
    page_end: Mapped[int | None] = mapped_column(Integer)
    token_count: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIM))
    # While the library changes embedding model: this passage's vector from the new one.
    embedding_next: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIM), nullable=True)
    # The document's title as words (`textsearch.searchable_title`), weighted above
    # the text in `tsv`, whose language RAG_TEXT_SEARCH_CONFIG sets (`db.textsearch`).
    heading: Mapped[str] = mapped_column(Text, server_default="")
    # The headings the passage falls under, "Part II > Item 7 > Liquidity" (weight B).
    section: Mapped[str] = mapped_column(Text, server_default="")
    tsv: Mapped[Any] = mapped_column(
        TSVECTOR, Computed(tsv_expression(DEFAULT_CONFIG), persisted=True)
    )

    document: Mapped[Document] = relationship(back_populates="chunks")


class TableRowRecord(Base):
    """One table row of a document's page with its columns' years, unit and statement
    (`rag_core.figures.rows`): what a computed figure quotes for each operand."""

    __tablename__ = "table_rows"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    page: Mapped[int | None] = mapped_column(Integer)
    statement: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(Text)
    periods: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    cells: Mapped[list[str]] = mapped_column(ARRAY(Text))  # as printed: "(1,577)", "—"


class FileRecord(Base):
    __tablename__ = "files"

    path: Mapped[str] = mapped_column(Text, primary_key=True)
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), index=True
    )
    latest_document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), index=True
    )
    present: Mapped[bool] = mapped_column(Boolean, server_default="true")
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    mtime_ns: Mapped[int | None] = mapped_column(BigInteger)
    sidecar_mtime_ns: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    # A path that could not be read at all (no content to make a document of): as for
    # documents, failures in a row and the next try.
    failures: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="queued")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    force: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # Extract and embed again even if the content is unchanged (the Documents page).
    reindex: Mapped[bool] = mapped_column(Boolean, server_default="false")
    run_after: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    locked_by: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    progress_done: Mapped[int | None] = mapped_column(Integer)
    progress_total: Mapped[int | None] = mapped_column(Integer)
    progress_unit: Mapped[str | None] = mapped_column(Text)  # "passages", "scanned pages"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class IngestProcess(Base):
    """A watcher or worker process, alive while its `seen_at` keeps moving."""

    __tablename__ = "ingest_processes"

    name: Mapped[str] = mapped_column(Text, primary_key=True)  # host:pid
    watches: Mapped[bool] = mapped_column(Boolean)  # a watcher; else a queue-only worker
    drop_dir: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AppState(Base):
    """Small facts about the database itself, such as its text-search language."""

    __tablename__ = "app_state"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class QueryLog(Base):
    __tablename__ = "query_log"
    __table_args__ = (CheckConstraint("feedback BETWEEN 1 AND 5", name="feedback_range"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    question: Mapped[str] = mapped_column(Text)  # as answered: follow-ups made stand-alone
    embedding: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIM), nullable=True)
    answer: Mapped[str | None] = mapped_column(Text)
    abstained: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # [{"chunk_id": int, "score": float}, ...] in rank order
    retrieved: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    latency_ms: Mapped[float | None] = mapped_column(Float)
    # The numbered sources shown with the answer:
    # [{"number", "document_id", "title", "source", "page", "page_end", "score"}, ...]
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    feedback: Mapped[int | None] = mapped_column(SmallInteger)
    feedback_comment: Mapped[str | None] = mapped_column(Text)
    user_name: Mapped[str | None] = mapped_column(Text)
    # extractive | generative | auto; the model's sentences, and how many verified
    answer_mode: Mapped[str | None] = mapped_column(Text)
    sentences_written: Mapped[int] = mapped_column(Integer, server_default="0")
    sentences_verified: Mapped[int] = mapped_column(Integer, server_default="0")


class Role(enum.StrEnum):
    ADMIN = "admin"
    STAFF = "staff"


class User(Base):
    """A person who may sign in.  Disabled, never deleted: the audit trail names them."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)  # lower case
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id, with its parameters
    role: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    """A personal token for the HTTP API, kept as its SHA-256 (`rag_core.access.tokens`)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(Text, unique=True)
    prefix: Mapped[str] = mapped_column(Text)  # its first characters, to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One row of the append-only audit trail (the database refuses changes)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    username: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text, server_default="ok")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class QualityCase(Base):
    """A question the site's quality check asks (`rag_core.quality`): generated from a
    passage, an answer staff rated 4-5 stars, or a low-rated answer an administrator
    corrected; or a low-rated answer dismissed from the to-fix list."""

    __tablename__ = "quality_cases"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    origin: Mapped[str] = mapped_column(Text)  # generated | rated | fixed
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    answerable: Mapped[bool] = mapped_column(Boolean, server_default="true")
    # [{"source", "title", "page", "page_end"}, ...]: any of them found is a hit
    expected: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    document_id: Mapped[int | None] = mapped_column(BigInteger)
    query_log_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    state: Mapped[str] = mapped_column(Text, server_default="active")  # active|retired|dismissed
    created_by: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class QualityRun(Base):
    """One generation of questions or one check of the cases, queued, running or ended,
    with the settings it ran under and its figures."""

    __tablename__ = "quality_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    kind: Mapped[str] = mapped_column(Text)  # generate | check
    state: Mapped[str] = mapped_column(Text, server_default="queued")
    started_by: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    request: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    total: Mapped[int] = mapped_column(Integer, server_default="0")
    done: Mapped[int] = mapped_column(Integer, server_default="0")
    figures: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    message: Mapped[str | None] = mapped_column(Text)


class QualityResult(Base):
    """One case's outcome in one check run: what was found, and at which rank."""

    __tablename__ = "quality_results"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("quality_runs.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(ForeignKey("quality_cases.id", ondelete="CASCADE"))
    found: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    file_rank: Mapped[int | None] = mapped_column(Integer)
    page_rank: Mapped[int | None] = mapped_column(Integer)
    abstained: Mapped[bool] = mapped_column(Boolean)
    sentences_written: Mapped[int] = mapped_column(Integer, server_default="0")
    sentences_verified: Mapped[int] = mapped_column(Integer, server_default="0")
    latency_ms: Mapped[float] = mapped_column(Float)

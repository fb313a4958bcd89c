"""Database: the embedded-server bootstrap, the engine, the ORM schema and migrations."""

from rag_core.db.engine import Database, open_database, open_side_database
from rag_core.db.models import (
    Base,
    Chunk,
    Document,
    DocumentStatus,
    FileRecord,
    Job,
    JobStatus,
    QueryLog,
    TableRowRecord,
)

__all__ = [
    "Base",
    "Chunk",
    "Database",
    "Document",
    "DocumentStatus",
    "FileRecord",
    "Job",
    "JobStatus",
    "QueryLog",
    "TableRowRecord",
    "open_database",
    "open_side_database",
]

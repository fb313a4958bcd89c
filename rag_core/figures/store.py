"""A document's table rows in the database: written with its passages, read back for
the documents a question's search found."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rag_core.db import Database, TableRowRecord
from rag_core.figures.rows import Cell, TableRow, parse_figure


def write_rows(session: Session, document_id: int, rows: Iterable[TableRow]) -> int:
    """Replace the document's rows with `rows` (in the caller's transaction)."""
    session.execute(sa.delete(TableRowRecord).where(TableRowRecord.document_id == document_id))
    records = [
        {
            "document_id": document_id,
            "page": row.page,
            "statement": row.statement,
            "label": row.label,
            "unit": row.unit,
            "periods": list(row.periods),
            "cells": [cell.raw for cell in row.cells],
        }
        for row in rows
    ]
    if records:
        session.execute(sa.insert(TableRowRecord), records)
    return len(records)


def _cell(raw: str) -> Cell:
    return parse_figure(raw) or Cell(raw, None)


def read_rows(db: Database, document_ids: Sequence[int]) -> dict[int, list[TableRow]]:
    """The rows of each of `document_ids`, in page order."""
    found: dict[int, list[TableRow]] = {d: [] for d in document_ids}
    if not document_ids:
        return found
    with db.session() as session:
        records = session.scalars(
            sa.select(TableRowRecord)
            .where(TableRowRecord.document_id.in_(list(document_ids)))
            .order_by(TableRowRecord.document_id, TableRowRecord.id)
        ).all()
        for r in records:
            found[r.document_id].append(
                TableRow(
                    r.page,
                    r.label,
                    tuple(r.periods),
                    tuple(_cell(raw) for raw in r.cells),
                    r.unit,
                    r.statement,
                )
            )
    return found

"""A document's table rows in the database: written with its passages, read back for
the documents a question's search found."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rag_core.db import Database, TableRowRecord
from rag_core.figures.concepts import statement_kind
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


def statement_pages(
    db: Database, document_ids: Sequence[int]
) -> dict[tuple[int, int, str], set[int]]:
    """(document, page, BALANCE/INCOME/CASH) -> the years of its columns, for each page
    of `document_ids` that holds rows of a financial statement, as read at ingest."""
    if not document_ids:
        return {}
    with db.session() as session:
        found = session.execute(
            sa.text("""
                SELECT r.document_id, r.page, r.statement,
                       array_agg(DISTINCT y.year) FILTER (WHERE y.year IS NOT NULL)
                FROM table_rows r LEFT JOIN LATERAL unnest(r.periods) AS y(year) ON true
                WHERE r.document_id = ANY(:ids) AND r.page IS NOT NULL AND r.statement <> ''
                GROUP BY r.document_id, r.page, r.statement
            """),
            {"ids": list(document_ids)},
        ).all()
    pages: dict[tuple[int, int, str], set[int]] = {}
    for document_id, page, statement, years in found:
        if kind := statement_kind(statement):
            pages.setdefault((document_id, page, kind), set()).update(years or ())
    return pages


def documents_naming(db: Database, document_ids: Sequence[int], names: Sequence[str]) -> set[int]:
    """Those of `document_ids` that name one of the companies `names` (in their file's
    name, their title or their text; "Coca Cola" matches "COCA-COLA" and
    "GENERALMILLS_2019_10K.pdf" "General Mills")."""
    if not document_ids or not names:
        return set(document_ids)
    squashed = _squashed(names)
    patterns = [
        r"\m" + r"[^[:alnum:]]*".join(re.escape(w) for w in re.findall(r"[A-Za-z0-9&]+", n)) + r"\M"
        for n in names
    ]
    with db.session() as session:
        found = session.execute(
            sa.text("""
                SELECT d.id FROM documents d
                WHERE d.id = ANY(:ids) AND (
                    regexp_replace(lower(d.source_path || ' ' || d.title), '[^a-z0-9]', '', 'g')
                        LIKE ANY(:squashed)
                    OR EXISTS (
                        SELECT 1 FROM chunks c
                        WHERE c.document_id = d.id AND c.text ~* ANY(:patterns)
                    )
                )
            """),
            {"ids": list(document_ids), "squashed": squashed, "patterns": patterns},
        ).scalars()
        return set(found)


def _squashed(names: Sequence[str]) -> list[str]:
    return ["%" + re.sub(r"[^a-z0-9]", "", n.lower()) + "%" for n in names]


def documents_titled(db: Database, names: Sequence[str], limit: int = 10) -> list[int]:
    """Searchable documents whose file name or title names one of the companies
    ("MGMRESORTS_2018_10K.pdf" for "MGM Resorts"), newest first: where a figure may be
    when the search found another of the company's filings."""
    if not names:
        return []
    with db.session() as session:
        return list(
            session.execute(
                sa.text("""
                    SELECT id FROM documents
                    WHERE is_active AND regexp_replace(
                        lower(source_path || ' ' || title), '[^a-z0-9]', '', 'g'
                    ) LIKE ANY(:squashed)
                    ORDER BY id DESC LIMIT :limit
                """),
                {"squashed": _squashed(names), "limit": limit},
            ).scalars()
        )

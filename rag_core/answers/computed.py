"""A figure the question asks for, found in or computed from the table rows of the
documents its search found (`rag_core.figures`), shown with its formula and each
operand's row, document and page; the rows' passages become sources the answer cites.

Shown only when every operand was found; when a figure the code knows how to compute
lacks an operand, the answer says which one, and shows no figure.  The model does no
arithmetic: what it writes about figures is verified against the sources as ever.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rag_core.db import Chunk, Database, Document
from rag_core.figures.compute import Figure, Operand, compute
from rag_core.figures.concepts import Concept
from rag_core.figures.metrics import Item, read_request, render
from rag_core.figures.store import documents_naming, documents_titled, read_rows
from rag_core.search.hits import Hit

DOCUMENTS_SEARCHED = 5  # the documents the search ranked first; a figure comes from these


@dataclass(frozen=True)
class Computed:
    figure: Figure
    # The passages of the operands' rows' pages, each page once: the answer's first
    # sources, [1] to [n]; `numbers[i]` is operand i's.
    sources: tuple[Hit, ...] = ()
    numbers: tuple[int, ...] = ()

    def text(self) -> str:
        """The figure, its formula with the operands' values, and each operand's row
        with its source number."""
        figure = self.figure
        name = figure.request.name
        if not figure.complete:
            wanted = ", ".join(f"{i.name} FY{i.year}" for i in figure.missing)
            return (
                f"No figure computed for “{name}”: no table row in the documents found "
                f"holds {wanted}."
            )
        values = {o.item: o for o in figure.operands}
        numbers = dict(zip(values, self.numbers, strict=True))
        lines = [
            f"{name} = {figure.formatted()} (computed by the appliance from the table rows "
            f"below; no model did the arithmetic)",
            f"= {figure.formula()}",
        ]
        if len(figure.operands) > 1 or figure.request.percent:
            lines.append(f"= {render(figure.request.formula, lambda i: values[i].shown())}")
        for item, operand in values.items():
            where = f"page {operand.row.page}" if operand.row.page is not None else ""
            statement = _statement(operand.row.statement)
            context = ", ".join(p for p in (where, statement) if p)
            lines.append(
                f"• {item.name} FY{item.year}: {operand.shown()} — “{operand.row.quote()}” "
                f"[{numbers[item]}]" + (f" ({context})" if context else "")
            )
        return "\n\n".join(lines)  # a paragraph each, as the chat's Markdown shows them

    def to_json(self) -> dict[str, Any]:
        figure = self.figure
        return {
            "name": figure.request.name,
            # "reported": one line item as the filing prints it; "computed": arithmetic.
            "kind": "reported" if isinstance(figure.request.formula, Item) else "computed",
            "value": figure.value,
            "shown": figure.formatted() if figure.complete else None,
            "formula": figure.formula(),
            "operands": [
                {
                    "item": o.item.name,
                    "year": o.item.year,
                    "value": o.value,
                    "row": o.row.quote(),
                    "statement": o.row.statement,
                    "page": o.row.page,
                    "document_id": o.document_id,
                    "source": number,
                }
                for o, number in zip(figure.operands, self.numbers, strict=True)
            ],
            "missing": [f"{i.name} FY{i.year}" for i in figure.missing],
        }


def _statement(statement: str) -> str:
    small = {"Of", "And", "The", "In", "For"}
    return " ".join(w.lower() if w in small and i else w for i, w in enumerate(statement.split()))


def _known(item: Item) -> bool:
    return isinstance(item.concept, Concept)


def computed_figure(db: Database, question: str, hits: Sequence[Hit]) -> Computed | None:
    """The figure `question` asks for from the rows of the documents among `hits`, or
    None when it asks for none the code can read (or names line items it does not
    know, and no row holds them: then it may not ask for a figure at all)."""
    request = read_request(question)
    if request is None:
        return None
    documents = list(dict.fromkeys(h.document_id for h in hits))[:DOCUMENTS_SEARCHED]
    if not documents:
        return None
    if request.companies:  # another company's filing never gives the figure
        naming = documents_naming(db, documents, request.companies)
        documents = [d for d in documents if d in naming]
        # The company's other filings after those the search found: the figure of the
        # year asked may be in the one filed that year, which the search missed.
        titled = documents_titled(db, request.companies)
        documents += [d for d in titled if d not in documents]
    figure = compute(request, documents, read_rows(db, documents))
    if not figure.complete and not all(_known(i) for i in figure.missing):
        return None
    if not figure.complete:
        return Computed(figure)
    pages = list(dict.fromkeys((o.document_id, o.row.page) for o in figure.operands))
    first = {h.document_id: h for h in reversed(hits)}
    with db.session() as session:
        sources = tuple(
            _source(session, figure.operands, document_id, page, first.get(document_id))
            for document_id, page in pages
        )
    numbers = tuple(pages.index((o.document_id, o.row.page)) + 1 for o in figure.operands)
    return Computed(figure, sources, numbers)


def _source(
    session: Session,
    operands: Sequence[Operand],
    document_id: int,
    page: int | None,
    like: Hit | None,
) -> Hit:
    """The passage of a page holding operands' rows (the one that holds the first such
    row, else the page's first), as a source of its document (`like`: a hit of it, when
    the search found one)."""
    if like is None:
        document = session.get(Document, document_id)
        assert document is not None  # its rows were just read
        like = Hit(
            chunk_id=0,
            document_id=document.id,
            title=document.title,
            source=document.source_path,
            page=page,
            page_end=page,
            chunk_index=0,
            text="",
            score=1.0,
            fused_score=1.0,
            text_match=False,
        )
    on_page = replace(like, page=page, page_end=page, score=1.0, text_match=False)
    chunks = session.execute(
        sa.select(Chunk.id, Chunk.chunk_index, Chunk.text, Chunk.section)
        .where(
            Chunk.document_id == document_id,
            Chunk.page_start <= page if page is not None else sa.true(),
            Chunk.page_end >= page if page is not None else sa.true(),
        )
        .order_by(Chunk.chunk_index)
    ).all()
    row = next(o.row for o in operands if (o.document_id, o.row.page) == (document_id, page))
    chosen = next((c for c in chunks if row.label[:40] in c.text), chunks[0] if chunks else None)
    if chosen is None:  # replaced by a new version since: quote the row itself
        return replace(on_page, text=row.quote())
    return replace(
        on_page,
        chunk_id=chosen.id,
        chunk_index=chosen.chunk_index,
        text=chosen.text,
        section=chosen.section,
    )

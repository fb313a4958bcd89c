"""Shared pieces of the benchmarks: texts, PDFs, tables and throw-away settings."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rag_core.settings import Settings

_REPO = Path(__file__).resolve().parents[2]
SCIFACT = _REPO.parent / "shared/eval/scifact-dev/corpus.jsonl"
# SciFact where the team's shared folder sits beside the checkout; otherwise (a clean
# clone, CI) the man-page set committed with the project.
DEFAULT_CORPUS = SCIFACT if SCIFACT.is_file() else _REPO / "eval/manpages-smoke/corpus.jsonl"


def corpus_texts(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            yield f"{record['title']}\n\n{record['text']}"


def sample_chunks(corpus: Path, count: int, size: int = 500) -> list[str]:
    """`count` pieces of `size` characters cut from the corpus's texts, in order."""
    texts: list[str] = []
    for text in corpus_texts(corpus):
        texts.extend(text[i : i + size] for i in range(0, len(text) - size // 2, size))
        if len(texts) >= count:
            break
    return texts[:count]


def write_pdfs(folder: Path, corpus: Path, pages: int, files: int) -> list[Path]:
    """`files` PDFs of `pages` pages, two abstracts a page."""
    from fpdf import FPDF

    texts = corpus_texts(corpus)
    pdfs = []
    for number in range(files):
        pdf = FPDF()
        pdf.set_font("Helvetica", size=10)
        for _ in range(pages):
            pdf.add_page()
            body = "\n\n".join(next(texts) for _ in range(2))
            pdf.multi_cell(0, 5, body.encode("latin-1", "replace").decode("latin-1"))
        path = folder / f"report_{number}.pdf"
        pdf.output(str(path))
        pdfs.append(path)
    return pdfs


def scratch_settings(settings: Settings, prefix: str) -> Settings:
    """`settings` on a new embedded server and drop folder in a temporary folder."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    return settings.model_copy(
        update={"database_url": None, "data_dir": work / "data", "drop_dir": work / "drop"}
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def print_table(title: str, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """Rows as a fixed-width table under `title`."""
    print(title)
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        cells = (str(row.get(c, "")).rjust(w) for c, w in zip(columns, widths, strict=True))
        print("  ".join(cells))
    print()


def write_json(path: Path, result: dict[str, Any]) -> None:
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")

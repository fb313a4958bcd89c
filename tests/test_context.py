import re
from pathlib import Path

import sqlalchemy as sa

from rag_core.answers.context import build_passages, join_overlapping
from rag_core.db import Chunk
from rag_core.search.hits import Hit
from rag_core.services import Services
from tests.helpers import make_pdf


def sentences(first: int, last: int) -> str:
    return " ".join(
        f"Sentence {n:03d} records that reading {n} was taken." for n in range(first, last + 1)
    )


def stored_hits(services: Services, title: str) -> list[Hit]:
    """Every chunk of a document as a hit (score by position), in chunk order."""
    with services.db.session() as session:
        rows = session.execute(
            sa.select(Chunk).where(Chunk.heading == title).order_by(Chunk.chunk_index)
        ).scalars()
        return [
            Hit(
                chunk_id=c.id,
                document_id=c.document_id,
                title=title,
                source=title,
                page=c.page_start,
                page_end=c.page_end,
                chunk_index=c.chunk_index,
                text=c.text,
                score=0.5,
                fused_score=0.0,
                text_match=False,
            )
            for c in rows
        ]


def numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"Sentence\s+(\d{3})", text)]


def test_neighbours_widen_a_hit_and_overlap_is_written_once(
    services: Services, tmp_path: Path
) -> None:
    (tmp_path / "log.txt").write_text(sentences(1, 150))
    list(services.ingestor.ingest_paths([tmp_path / "log.txt"]))
    chunks = stored_hits(services, "log txt")
    assert len(chunks) >= 5
    middle = chunks[len(chunks) // 2]
    [passage] = build_passages(services.db, [middle], neighbours=1)
    found = numbers(passage.text)
    # The sentences of the chunk before, the hit and the chunk after: in order, none twice.
    expected = sorted(
        set(numbers(chunks[middle.chunk_index - 1].text))
        | set(numbers(middle.text))
        | set(numbers(chunks[middle.chunk_index + 1].text))
    )
    assert found == expected
    assert passage.chunk_id == middle.chunk_id
    [alone] = build_passages(services.db, [middle], neighbours=0)
    assert alone.text == middle.text


def test_hits_that_lie_together_become_one_passage(services: Services, tmp_path: Path) -> None:
    make_pdf(tmp_path / "report.pdf", [sentences(1, 60), sentences(61, 120)])
    list(services.ingestor.ingest_paths([tmp_path / "report.pdf"]))
    chunks = stored_hits(services, "report pdf")
    page_one = [c for c in chunks if c.page == 1]
    page_two = [c for c in chunks if c.page == 2]
    assert len(page_one) >= 3 and page_two
    # First and last chunk of page one (not neighbours), then one on page two.
    hits = [page_one[-1], page_two[-1], page_one[0]]
    passages = build_passages(services.db, hits, neighbours=0)
    assert [p.page for p in passages] == [1, 2]
    assert passages[0].chunk_id == page_one[-1].chunk_id  # the best hit speaks for it
    assert numbers(passages[0].text) == list(range(1, 61))  # the whole page, in order
    assert numbers(passages[1].text) == numbers(page_two[-1].text)


def test_join_overlapping_writes_shared_text_once() -> None:
    assert join_overlapping(["one two three four five", "three four five six"], 5) == (
        "one two three four five six"
    )
    assert join_overlapping(["alpha", "beta"], 5) == "alpha\nbeta"


def test_neighbours_stay_on_the_page_of_the_hit(services: Services, tmp_path: Path) -> None:
    make_pdf(tmp_path / "report.pdf", [sentences(1, 60), sentences(61, 120)])
    list(services.ingestor.ingest_paths([tmp_path / "report.pdf"]))
    chunks = stored_hits(services, "report pdf")
    last_of_page_one = [c for c in chunks if c.page == 1][-1]
    [passage] = build_passages(services.db, [last_of_page_one], neighbours=2)
    assert (passage.page, passage.page_end) == (1, 1)
    assert max(numbers(passage.text)) == 60
    assert min(numbers(passage.text)) < min(numbers(last_of_page_one.text))

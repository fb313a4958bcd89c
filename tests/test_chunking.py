"""Chunking is pure logic: tested with a whitespace token counter."""

import itertools
from collections.abc import Sequence

import pytest

from rag_core.extract import Page
from rag_core.ingestion.chunking import chunk_pages


def words(texts: Sequence[str]) -> list[int]:
    return [len(text.split()) for text in texts]


def sentence(n: int, word: str = "word") -> str:
    return " ".join([word] * (n - 1)) + " end."


def test_chunks_never_exceed_the_token_limit() -> None:
    text = "\n\n".join(" ".join(sentence(9) for _ in range(6)) for _ in range(10))
    chunks = chunk_pages([Page(1, text)], words, max_tokens=50, overlap_tokens=10)
    assert len(chunks) > 5
    assert all(c.token_count <= 50 for c in chunks)
    assert all(len(c.text.split()) <= 50 for c in chunks)


def test_every_word_lands_in_some_chunk() -> None:
    text = " ".join(f"w{i}." for i in range(500))
    chunks = chunk_pages([Page(1, text)], words, max_tokens=40, overlap_tokens=8)
    covered = {w for c in chunks for w in c.text.split()}
    assert covered == set(text.split())


def test_neighbouring_chunks_overlap() -> None:
    text = " ".join(f"s{i} a b c d." for i in range(60))  # 6-word sentences, one paragraph
    chunks = chunk_pages([Page(1, text)], words, max_tokens=30, overlap_tokens=12)
    for left, right in itertools.pairwise(chunks):
        assert set(left.text.split()) & set(right.text.split())


def test_chunks_end_at_paragraph_breaks_when_they_can() -> None:
    paragraphs = [sentence(12, f"p{i}") for i in range(6)]
    chunks = chunk_pages([Page(1, "\n\n".join(paragraphs))], words, 30, 5)
    # Two 12-word paragraphs fit in 30 tokens; a third would not: cut between paragraphs.
    assert chunks[0].text == "\n\n".join(paragraphs[:2])
    # No chunk starts or ends mid-paragraph (overlap does not cross a paragraph break).
    assert all(c.text.startswith(tuple(paragraphs)) for c in chunks)
    assert all(c.text.endswith("end.") for c in chunks)


def test_chunks_keep_their_page_number_and_never_span_pages() -> None:
    pages = [Page(1, sentence(5, "alpha")), Page(2, ""), Page(3, sentence(5, "gamma"))]
    chunks = chunk_pages(pages, words, max_tokens=50, overlap_tokens=5)
    assert [(c.page_start, c.page_end) for c in chunks] == [(1, 1), (3, 3)]
    assert "alpha" in chunks[0].text and "gamma" in chunks[1].text
    assert [c.index for c in chunks] == [0, 1]


def test_text_without_pages_has_no_page_number() -> None:
    chunks = chunk_pages([Page(None, "Just some text.")], words, 10, 2)
    assert chunks[0].page_start is None


def test_a_word_longer_than_a_chunk_is_cut() -> None:
    def chars(texts: Sequence[str]) -> list[int]:
        return [len(t.strip()) for t in texts]

    chunks = chunk_pages([Page(1, "x" * 1000)], chars, max_tokens=100, overlap_tokens=0)
    assert len(chunks) == 10
    assert "".join(c.text for c in chunks) == "x" * 1000


def test_overlap_must_be_smaller_than_chunk() -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_pages([Page(1, "a")], words, max_tokens=10, overlap_tokens=10)

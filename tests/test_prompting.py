from rag_core.answers.prompting import SYSTEM_PROMPT, build_prompt, cited_numbers, source_label
from rag_core.search.hits import Hit


def hit(n: int, text: str, page: int | None = 1) -> Hit:
    return Hit(
        chunk_id=n,
        document_id=1,
        title=f"doc{n}.pdf",
        source=f"/drop/doc{n}.pdf",
        page=page,
        page_end=page,
        chunk_index=n,
        text=text,
        score=0.5,
        fused_score=0.1,
        text_match=False,
    )


def words(text: str) -> int:
    return len(text.split())


def test_sources_are_numbered_in_rank_order_with_page() -> None:
    prompt = build_prompt("What?", [hit(1, "first"), hit(2, "second", page=7)], words, 500)
    assert prompt.system == SYSTEM_PROMPT
    assert '[1] doc1.pdf, page 1\n"""\nfirst' in prompt.user
    assert '[2] doc2.pdf, page 7\n"""\nsecond' in prompt.user
    assert prompt.user.rstrip().endswith("Question: What?")


def test_prompt_keeps_only_what_fits_the_budget() -> None:
    hits = [hit(i, " ".join(["w"] * 100)) for i in range(1, 6)]
    budget = words(SYSTEM_PROMPT) + 16 + 2 * 110
    prompt = build_prompt("q", hits, words, budget)
    assert len(prompt.sources) == 2
    assert words(prompt.system) + words(prompt.user) <= budget


def test_best_passage_is_kept_even_when_too_long() -> None:
    prompt = build_prompt("q", [hit(1, "w " * 5000)], words, 300)
    assert len(prompt.sources) == 1
    assert words(prompt.user) < 2000


def test_quotes_inside_passages_cannot_close_the_quoted_block() -> None:
    prompt = build_prompt("q", [hit(1, 'a """ b')], words, 500)
    assert prompt.user.count('"""') == 2


def test_cited_numbers_ignores_unknown_sources_and_repeats() -> None:
    assert cited_numbers("A [2] and B [1][2], not [9] or [x].", 3) == [2, 1]


def test_label_for_text_files_has_no_page() -> None:
    assert source_label(hit(1, "t", page=None)) == "doc1.pdf"


def test_a_passage_too_long_for_the_room_left_gives_way_to_shorter_ones() -> None:
    hits = [hit(1, "w " * 50), hit(2, "w " * 500), hit(3, "w " * 50)]
    budget = words(SYSTEM_PROMPT) + 16 + 2 * 60
    prompt = build_prompt("q", hits, words, budget)
    assert [h.chunk_id for h in prompt.sources] == [1, 3]
    assert "[2] doc3.pdf" in prompt.user

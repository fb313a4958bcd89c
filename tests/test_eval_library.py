"""The page-level evaluation's figures: recall and MRR over each question's evidence
pages, and each fixed half of the questions scored on its own."""

from rag_core.eval.library import Evidence, Found, Question, by_half, scored
from rag_core.eval.sides import half_of


def _question(number: int) -> Question:
    return Question(f"q{number}", f"question {number}", (Evidence("a.pdf", number),), "")


def test_each_half_is_scored_on_its_own_questions() -> None:
    questions = [_question(n) for n in range(1, 41)]
    halves = {q.id: half_of(q.id) for q in questions}
    assert set(halves.values()) == {"a", "b"}  # both halves are drawn from 40 ids

    def search(text: str) -> list[Found]:
        """The right page first for half a, third for half b."""
        number = int(text.split()[1])
        right = Found("a.pdf", number, number)
        wrong = [Found("b.pdf", 1, 1), Found("a.pdf", number + 100, number + 100)]
        return [right, *wrong] if halves[f"q{number}"] == "a" else [*wrong, right]

    result = scored(questions, search, "test")
    assert result["halves"]["a"]["page@1"] == 1.0
    assert result["halves"]["b"]["page@1"] == 0.0
    assert result["halves"]["b"]["page@5"] == 1.0
    assert abs(result["halves"]["b"]["page_mrr"] - 1 / 3) < 1e-9
    count_a = sum(1 for h in halves.values() if h == "a")
    assert result["halves"]["a"]["questions"] == count_a
    assert result["summary"]["page@1"] == count_a / 40
    table = by_half({"hybrid": result})
    assert "page@5 a" in table and "hybrid" in table

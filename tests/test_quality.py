"""The site's own quality check: generated questions and what is kept of them, the
cases from ratings and the to-fix list, runs through the live pipeline (stored,
resumed, one at a time, compared), and who may see them."""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag_core.access.accounts import AccessDenied
from rag_core.access.policy import Permission, require
from rag_core.answers.chat import AnswerMode
from rag_core.answers.prompting import Prompt
from rag_core.db import Chunk, Document, QueryLog
from rag_core.db.models import AuditEntry, QualityResult, QualityRun, Role
from rag_core.errors import GaveWay, QuestionRejected
from rag_core.eval import site
from rag_core.quality.cases import Expected
from rag_core.quality.generation import (
    GENERATION_MAX_TOKENS,
    DocumentSpan,
    Generated,
    Passage,
    check,
    parse,
    question_written,
    spread,
    unanswerable,
)
from rag_core.quality.questions import generate
from rag_core.quality.runs import Outcome, figures, hard_documents, ranks, worker_lock
from rag_core.services import Services
from tests.helpers import CONTRACT_PAGES, make_pdf

TERMINATION = CONTRACT_PAGES[1]
EXTRACTIVE = AnswerMode.EXTRACTIVE

# --- what a generated question must be --------------------------------------------------


def test_a_question_in_other_words_with_its_answer_in_the_passage_is_kept() -> None:
    assert (
        check("How much warning must I give to end the Globex deal?", "ninety days", TERMINATION)
        is None
    )


@pytest.mark.parametrize(
    ("question", "answer", "reason"),
    [
        ("Termination notice", "ninety days", "not a question"),
        (
            "How long is the warning to end the Globex deal?",
            "thirty days",
            "answer not in the passage",
        ),
        ("How much does Globex charge each month?", "12,500 euros", "answer not in the passage"),
        (
            "How many days written notice to the other party is needed?",
            "ninety",
            "copies the passage",
        ),
        ("Wie lange ist die Kündigungsfrist bei Globex?", "ninety days", "another language"),
        ("What notice what notice what notice what notice?", "ninety days", "nonsense"),
        ("What notice period does the passage give?", "ninety days", "points at its passage"),
        ("Who are the parties to this agreement?", "either party", "points at its passage"),
        # "this 10-K form" was kept: the word before the document's kind had a hyphen.
        ("Which company filed this 10-K form?", "Globex", "points at its passage"),
        ("What is the name of the company?", "Globex", "too vague"),
        ("Is the notice period ninety days for Globex?", "ninety days", "answer in the question"),
        (
            "Who may end the Globex agreement early?",
            "either party",
            "answer does not fit the question",
        ),
        (
            "When can Acme end the Globex deal?",
            "by giving notice",
            "answer does not fit the question",
        ),
        ("What happens in the situations discussed below?", "notice", "points at its passage"),
        (
            "How much warning does globex_msa_2026.pdf require before ending it?",
            "ninety days",
            "points at its passage",
        ),
    ],
)
def test_a_generated_question_that_cannot_be_checked_is_dropped(
    question: str, answer: str, reason: str
) -> None:
    assert check(question, answer, TERMINATION) == reason


def test_a_figure_from_a_table_row_needs_the_year_it_is_for() -> None:
    balance = "Total assets 17,475 17,426 16,921 Total liabilities 12,001 11,980 11,002"
    assert check("What are Amcor's total assets?", "$17,475", balance) == "figure without its year"
    assert check("What was Amcor's asset base in 2023?", "$17,475", balance) is None
    prose = "At year end the Company had recorded accruals of $12 million for Brazilian taxes."
    assert check("How much did Amcor accrue for Brazilian taxes?", "$12 million", prose) is None


def test_the_models_two_lines_are_read_and_anything_else_is_not() -> None:
    assert parse("Question: How long is the notice?\nAnswer: ninety days.") == (
        "How long is the notice?",
        "ninety days",
    )
    assert parse("**Question 1:** Who pays?\n**Answer:** Acme") == ("Who pays?", "Acme")
    assert parse("I cannot write a question about this.") is None
    assert parse("Question: Who pays?") is None
    # While the model writes: the question once its line is complete.
    assert question_written("Question: Who pays the") is None
    assert question_written("**Question:** Who pays the  fee?\nAns") == "Who pays the fee?"


def test_an_unanswerable_question_swaps_a_name_for_one_the_library_lacks() -> None:
    in_library = {"Whitfield"}
    rng = random.Random(0)
    made = unanswerable("What is Globex's notice period?", lambda name: name not in in_library, rng)
    assert made is not None and made.endswith("'s notice period?")
    assert "Globex" not in made and "Whitfield" not in made
    assert unanswerable("What is Adobe Sign used for?", lambda name: True, rng) in {
        f"What is {name} used for?" for name in site_names()
    }
    assert unanswerable("how long is the notice period?", lambda name: True, rng) is None
    assert unanswerable("What does Globex charge?", lambda name: False, rng) is None


def site_names() -> tuple[str, ...]:
    from rag_core.quality.generation import STAND_INS

    return STAND_INS


def test_passages_are_drawn_across_documents_types_and_each_documents_length() -> None:
    documents = [
        DocumentSpan(1, "pdf", 0, tuple(range(100, 200))),  # a long manual
        DocumentSpan(2, "pdf", 1, (200, 201)),
        DocumentSpan(3, "docx", 2, (300, 301, 302)),
        DocumentSpan(4, "pdf", 3, ()),  # nothing to ask about
    ]
    drawn = spread(documents, 8, seed=3)
    assert len(drawn) == len(set(drawn)) == 8
    assert drawn[:3] == [drawn[0], drawn[1], drawn[2]]
    assert {d // 100 for d in drawn[:3]} == {1, 2, 3}  # every document before any twice
    manual = [d for d in drawn if 100 <= d < 200]
    assert manual[0] < 150 <= manual[-1]  # from both halves of the manual, not its start
    assert sorted(spread(documents, 500)) == sorted(i for d in documents for i in d.chunk_ids)


# --- figures of a run -----------------------------------------------------------------


def test_ranks_count_a_passage_on_an_expected_page_or_range() -> None:
    expected = [Expected("/d/a.pdf", "a.pdf", 7)]
    found = [
        Expected("/d/b.pdf", "b.pdf", 7),
        Expected("/d/a.pdf", "a.pdf", 2),
        Expected("/d/a.pdf", "a.pdf", 6, 8),
    ]
    assert ranks(found, expected) == (2, 3)
    assert ranks(found, [Expected("/d/a.pdf", "a.pdf")]) == (2, 2)  # anywhere in it
    assert ranks(found, [Expected("/d/c.pdf", "c.pdf", 1)]) == (None, None)


def outcome(case_id: int, answerable: bool, page_rank: int | None, abstained: bool) -> Outcome:
    from rag_core.quality.cases import Case

    expected = (Expected("/d/a.pdf", "a.pdf", 1),) if answerable else ()
    case = Case(case_id, "generated", f"q{case_id}?", None, answerable, expected, None)
    return Outcome(
        case,
        (),
        page_rank,
        page_rank,
        abstained,
        2,
        2 if page_rank and page_rank <= 5 else 1,
        100.0 * case_id,
    )


def test_figures_of_a_check() -> None:
    result = figures(
        [
            outcome(1, True, 1, False),
            outcome(2, True, 4, False),
            outcome(3, True, 9, False),  # found, but not in the top 5
            outcome(4, True, None, True),  # a false abstention
            outcome(5, False, None, True),  # abstained as it should
        ]
    )
    assert result["page@5"] == pytest.approx(0.5)
    assert result["mrr"] == pytest.approx((1 + 1 / 4 + 1 / 9) / 4)
    assert result["abstention"] == 1.0
    assert result["false_abstention"] == 0.25
    assert result["verified"] == pytest.approx(2 / 3)
    assert result["passed"] == 3
    assert result["latency_p50_ms"] == 300.0


# --- on the real database -------------------------------------------------------------


@pytest.fixture
def library(services: Services) -> Services:
    make_pdf(services.settings.drop_dir / "contract.pdf", CONTRACT_PAGES)
    list(services.ingestor.ingest_paths([services.settings.drop_dir]))
    return services


def passage_on(services: Services, page: int) -> Passage:
    with services.db.session() as session:
        chunk, title, source = session.execute(
            sa.select(Chunk, Document.title, Document.source_path)
            .join(Document)
            .where(Chunk.page_start == page)
        ).one()
        return Passage(
            chunk.id, chunk.document_id, title, source, chunk.page_start, chunk.page_end, chunk.text
        )


class Writer:
    """An answer model that replies from a script, one reply per prompt (the
    generation's parsing, filtering and storage are under test, not a model)."""

    model_path = Path("scripted.gguf")
    uses_chat_template = True

    def __init__(self, replies: dict[str, str]) -> None:
        self.replies = replies
        self.prompts: list[Prompt] = []
        self.max_tokens: list[int | None] = []
        self.written: list[str] = []  # what each reply got to before it was stopped

    def stream(
        self, prompt: Prompt, *, answer: bool = False, max_tokens: int | None = None
    ) -> Iterator[str]:
        self.prompts.append(prompt)
        self.max_tokens.append(max_tokens)
        reply = next(
            (reply for word, reply in self.replies.items() if word in prompt.user),
            "Question: What is the name of the company?\nAnswer: Acme",
        )
        self.written.append("")
        for piece in re.findall(r"\S+\s*", reply):  # word by word, as a model streams
            self.written[-1] += piece
            yield piece

    def refusal(self, prompt: Prompt) -> float:
        return 0.0

    def warm(self) -> None:
        pass


SCRIPT = {
    "terminate": "Question: How much warning must Acme give to end the Globex deal?\n"
    "Answer: ninety (90) days",
    "monthly fee": "Question: How much is Acme charged by Globex for each month of work?\n"
    "Answer: 12,500 euros",
    "confidential": "Question: Wie lange bleibt alles bei Globex geheim?\nAnswer: five years",
}


def test_generation_keeps_checkable_questions_and_counts_the_rest(library: Services) -> None:
    writer = Writer(SCRIPT)
    made = generate(library.db, writer, 10, unanswerable_share=0.5, seed=1)  # type: ignore[arg-type]
    assert len(writer.prompts) == 4  # every passage of the contract, once
    assert "Document: contract" in writer.prompts[0].user
    assert set(writer.max_tokens) == {GENERATION_MAX_TOKENS}  # two short lines, no essay
    assert sorted(g.question for g in made.kept) == [
        "How much is Acme charged by Globex for each month of work?",
        "How much warning must Acme give to end the Globex deal?",
    ]
    assert made.dropped == {"another language": 1, "too vague": 1}
    # A question dropped for itself stops the model before it writes the answer.
    stopped = [w for w in writer.written if "Answer:" not in w]
    assert sorted(w.split("?")[0] for w in stopped) == [
        "Question: What is the name of the company",
        "Question: Wie lange bleibt alles bei Globex geheim",
    ]
    assert {g.passage.page for g in made.kept} == {2, 3}
    assert len(made.unanswerable) == 1
    question, source = made.unanswerable[0]
    assert "Acme" not in question and source in made.kept


def test_a_generation_run_stores_its_questions_as_cases(library: Services, tmp_path: Path) -> None:
    from dataclasses import replace

    writer = Writer(SCRIPT)
    writer.model_path = tmp_path / "model.gguf"
    writer.model_path.write_bytes(b"a model")
    run_id = library.runs.queue("generate", "boss", {"questions": 5, "unanswerable_share": 0.5})
    site.work(replace(library, generator=writer), quiet_seconds=0)  # type: ignore[arg-type]
    run = library.runs.get(run_id)
    assert run is not None and run.state == "done"
    assert run.figures["kept"] == 2 and run.figures["unanswerable"] == 1
    assert run.figures["dropped"] == {"another language": 1, "too vague": 1}
    assert (
        run.message
        == "The library gave 2 checkable questions of the 5 asked for (passages tried: 4)."
    )
    cases = library.cases.active()
    assert [c.answerable for c in cases].count(False) == 1
    assert {c.expected[0].page for c in cases if c.answerable} == {2, 3}
    assert library.history.find().total == 0  # never in anyone's history


def test_an_empty_library_gives_no_questions_and_says_why(
    services: Services, tmp_path: Path
) -> None:
    from dataclasses import replace

    writer = Writer(SCRIPT)
    writer.model_path = tmp_path / "model.gguf"
    writer.model_path.write_bytes(b"a model")
    run_id = services.runs.queue("generate", "boss")
    site.work(replace(services, generator=writer), quiet_seconds=0)  # type: ignore[arg-type]
    run = services.runs.get(run_id)
    assert run is not None and run.state == "failed"
    assert run.message is not None and run.message.startswith("The library has no passages")
    assert writer.prompts == []


def test_a_check_asks_every_case_and_keeps_them_out_of_history(library: Services) -> None:
    termination, fees = passage_on(library, 2), passage_on(library, 3)
    library.cases.add_generated(
        [
            Generated("How much warning to end the Globex agreement?", "ninety days", termination),
            Generated("What is the monthly fee Acme pays?", "12,500 euros", fees),
        ],
        [("What does the Whitfield lease say about parking?", Generated("q", "a", fees))],
        0,
    )
    check = library.runs.queue("check", "boss", {"mode": "extractive"})
    reports: list[int] = []
    assert site.work(library, report=lambda run: reports.append(run.done), quiet_seconds=0) == [
        check
    ]
    run = library.runs.get(check)
    assert run is not None and run.state == "done", run
    assert reports[-1] == 3 and run.total == 3
    assert run.figures["page@5"] == 1.0
    assert run.figures["abstention"] == 1.0
    assert run.figures["false_abstention"] == 0.0
    assert run.settings["answer_mode"] == "extractive"
    assert run.settings["library"]["documents"] == 1
    with library.db.session() as session:  # a check is not a person asking
        assert session.scalar(sa.select(sa.func.count(QueryLog.id))) == 0
        assert not session.scalar(
            sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.action == "question")
        )
        actions = session.scalars(sa.select(AuditEntry.action)).all()
    assert actions.count("quality_run") == 1  # the run itself is audited


def test_a_run_stopped_by_a_restart_is_resumed_and_counted_once(library: Services) -> None:
    termination = passage_on(library, 2)
    library.cases.add_generated(
        [
            Generated("How much warning to end the Globex agreement?", "ninety days", termination),
            Generated("Can either side end the Acme contract?", "Either party", termination),
        ],
        [],
        0,
    )
    run_id = library.runs.queue("check", "boss", {"mode": "extractive"})
    first, second = library.cases.active()
    # A worker started it, stored one case's result and was killed.
    library.runs.start(run_id, 2, {}, {"mode": "extractive", "case_ids": [first.id, second.id]})
    library.runs.store(run_id, site.ask(library, first, AnswerMode.EXTRACTIVE))
    library.runs.progress(run_id, 1)
    library.cases.add_generated(  # added after the run started: not part of it
        [Generated("What is the notice period?", "ninety days", termination)], [], 0
    )
    site.work(library, quiet_seconds=0)
    run = library.runs.get(run_id)
    assert run is not None and run.state == "done"
    assert run.figures["cases"] == 2 and run.done == 2
    with library.db.session() as session:
        assert (
            session.scalar(
                sa.select(sa.func.count(QualityResult.id)).where(QualityResult.run_id == run_id)
            )
            == 2
        )


def test_a_second_worker_waits_for_the_first(library: Services) -> None:
    run_id = library.runs.queue("check", "boss", {"mode": "extractive"})
    waiting = threading.Event()
    worked: list[list[int]] = []
    with worker_lock(library.db):
        worker = threading.Thread(
            target=lambda: worked.append(site.work(library, waiting=waiting.set, quiet_seconds=0))
        )
        worker.start()
        assert waiting.wait(timeout=120)
        run = library.runs.get(run_id)
        assert run is not None and run.state == "queued"  # nothing done while it waits
    worker.join(timeout=300)
    assert worked == [[run_id]]
    run = library.runs.get(run_id)
    assert run is not None and run.state == "failed"  # no cases: said so
    assert run.message is not None and "no cases to check yet" in run.message


def test_without_the_answer_model_generation_says_so_and_staff_cases_still_run(
    library: Services, tmp_path: Path
) -> None:
    from dataclasses import replace

    answer = library.chat.ask(
        "What is the notice period for termination?", user="nurse", mode=EXTRACTIVE
    ).complete()
    library.history.rate(answer.query_id or 0, 5)
    missing = replace(library, generator=Writer({}))  # its model file is not there
    generation = library.runs.queue("generate", "boss")
    check = library.runs.queue("check", "boss", {"mode": "auto"})
    site.work(missing, quiet_seconds=0)
    failed = library.runs.get(generation)
    assert failed is not None and failed.state == "failed"
    assert failed.message is not None
    assert failed.message.startswith("Generating questions needs the answer model")
    assert "scripted.gguf is missing" in failed.message
    ran = library.runs.get(check)
    assert ran is not None and ran.state == "done"
    assert ran.settings["answer_mode"] == "extractive"  # quotes: no model to write
    assert ran.figures["cases"] == 1 and ran.figures["page@5 rated"] == 1.0


def test_ratings_make_cases_and_low_ones_with_a_note_wait_on_the_to_fix_list(
    library: Services,
) -> None:
    good = library.chat.ask(
        "What is the notice period for termination?", user="nurse", mode=EXTRACTIVE
    ).complete()
    bad = library.chat.ask("How much is the monthly fee?", user="nurse", mode=EXTRACTIVE).complete()
    unrated = library.chat.ask(
        "Who keeps information confidential?", user="nurse", mode=EXTRACTIVE
    ).complete()
    assert good.query_id and bad.query_id and unrated.query_id
    library.history.rate(good.query_id, 5)
    library.history.rate(bad.query_id, 1)
    library.history.comment(bad.query_id, "It quoted the wrong section")
    library.history.rate(unrated.query_id, 2)  # low, but no note: nothing to act on

    (case,) = library.cases.active()
    assert case.origin == "rated" and case.question == good.question
    assert case.expected and case.expected[0].source.endswith("contract.pdf")
    (item,) = library.cases.to_fix()
    assert item.query_log_id == bad.query_id and item.note == "It quoted the wrong section"

    library.history.rate(good.query_id, 3)  # changed their mind: no longer a case
    assert library.cases.active() == []
    library.history.rate(good.query_id, 4)
    assert [c.id for c in library.cases.active()] == [case.id]

    with library.db.session() as session:
        document = session.scalar(sa.select(Document.id))
    with pytest.raises(QuestionRejected, match="page 9 is not one of them"):
        library.cases.fix(bad.query_id, "boss", document_id=document, page=9)
    fixed = library.cases.fix(bad.query_id, "boss", document_id=document, page=3)
    assert library.cases.to_fix() == []
    corrected = next(c for c in library.cases.active() if c.id == fixed)
    assert corrected.origin == "fixed" and corrected.expected[0].page == 3
    with pytest.raises(QuestionRejected, match="already been reviewed"):
        library.cases.dismiss(bad.query_id, "boss")
    library.cases.dismiss(unrated.query_id, "boss")  # off a list it was never on: harmless
    assert library.cases.to_fix() == []


def test_two_checks_compared_name_what_changed_and_the_cases_that_now_fail(
    library: Services,
) -> None:
    termination = passage_on(library, 2)
    library.cases.add_generated(
        [Generated("How much warning to end the Globex agreement?", "ninety days", termination)],
        [],
        0,
    )
    before = library.runs.queue("check", "boss", {"mode": "extractive"})
    site.work(library, quiet_seconds=0)
    # The contract is retired from the library: the next check cannot find it.
    library.library.retire(library.settings.drop_dir / "contract.pdf", by="boss")
    after = library.runs.queue("check", "boss", {"mode": "extractive"})
    site.work(library, quiet_seconds=0)
    comparison = library.runs.compare(before, after)
    assert comparison.figures["page@5"] == (1.0, 0.0)
    assert [o.case.question for o in comparison.now_failing] == [
        "How much warning to end the Globex agreement?"
    ]
    assert "library" in comparison.settings_changed
    summary = comparison.summary()
    assert summary.startswith(f"Since run {before} (")
    assert "page@5 1.00 → 0.00; file@5 1.00 → 0.00; 1 case now fails" in summary
    text = site.comparison_text(library, before, after)
    assert "now fails: How much warning to end the Globex agreement?" in text


def test_only_administrators_may_measure_quality() -> None:
    class Person:
        def __init__(self, role: Role) -> None:
            self.username, self.role = "x", role

    require(Person(Role.ADMIN), Permission.CHECK_QUALITY)
    with pytest.raises(AccessDenied, match="Only an administrator may measure answer quality"):
        require(Person(Role.STAFF), Permission.CHECK_QUALITY)


def test_runs_table_lists_queued_runs_oldest_first(services: Services) -> None:
    first = services.runs.queue("check", "boss")
    second = services.runs.queue("generate", "boss", {"questions": 5})
    assert [r.id for r in services.runs.pending()] == [first, second]
    with services.db.session() as session:
        assert session.scalar(sa.select(QualityRun.request).where(QualityRun.id == second)) == {
            "questions": 5
        }


def test_the_worker_waits_while_a_person_is_being_answered(library: Services) -> None:
    from rag_core.access.audit import Action

    runs = library.runs
    assert not runs.staff_asking(10)
    library.audit.record("nurse", Action.QUESTION, {"question": "q"})  # answer under way
    assert runs.staff_asking(0)
    library.chat.ask("What is the notice period?", user="nurse", mode=EXTRACTIVE).complete()
    assert runs.staff_asking(3600)  # answered just now: a next question may follow
    assert not runs.staff_asking(0)


class YieldingWriter(Writer):
    """A scripted model whose first writing stops for a person's question, as the
    service client's does (`client.GaveWay`, counted in `gave_way`)."""

    def __init__(self, replies: dict[str, str]) -> None:
        super().__init__(replies)
        self.gave_way = 0

    def stream(
        self, prompt: Prompt, *, answer: bool = False, max_tokens: int | None = None
    ) -> Iterator[str]:
        pieces = super().stream(prompt, answer=answer, max_tokens=max_tokens)
        for number, piece in enumerate(pieces):
            if number == 2 and not self.gave_way:
                self.gave_way += 1
                raise GaveWay("The answer gave way to a person's question.")
            yield piece


def test_a_generation_stopped_for_a_person_reads_its_passage_again(library: Services) -> None:
    writer = YieldingWriter(SCRIPT)
    waits: list[int] = []
    made = generate(library.db, writer, 10, seed=1, give_way=lambda: waits.append(1))  # type: ignore[arg-type]
    assert waits == [1] and writer.gave_way == 1
    assert len(writer.prompts) == 5  # the passage stopped mid-writing was read again
    assert made.tried == 4  # and counted once
    assert len(made.kept) == 2 and made.dropped == {"another language": 1, "too vague": 1}


def test_a_checked_answer_stopped_for_a_person_is_asked_again(
    library: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    writer = YieldingWriter({"Evidence": "The notice period is ninety (90) days [1]."})
    writer.model_path = tmp_path / "model.gguf"
    writer.model_path.write_bytes(b"a model")
    monkeypatch.setattr(library.chat, "generator", writer)
    termination = passage_on(library, 2)
    library.cases.add_generated(
        [Generated("How much warning to end the Globex agreement?", "ninety days", termination)],
        [],
        0,
    )
    check = library.runs.queue("check", "boss", {"mode": "auto"})
    site.work(replace(library, generator=writer), quiet_seconds=0)  # type: ignore[arg-type]
    assert writer.gave_way == 1
    assert len(writer.prompts) == 2  # the case was asked again, whole
    with library.db.session() as session:
        results = session.scalars(
            sa.select(QualityResult).where(QualityResult.run_id == check)
        ).all()
    assert len(results) == 1  # stored once, from the answer that was not stopped
    assert results[0].sentences_written == 1


def test_documents_nobody_can_find_are_those_failing_more_than_the_library() -> None:
    from rag_core.quality.cases import Case

    def asked(number: int, source: str, passed: bool) -> Outcome:
        case = Case(
            number, "generated", f"q{number}?", None, True, (Expected(source, source, 1),), 1
        )
        return Outcome(case, (), 1, 1 if passed else None, not passed, 0, 0, 100.0)

    outcomes, number = [], 0
    for source, questions, failed in [
        ("a.pdf", 10, 5),
        ("d.pdf", 3, 2),
        ("b.pdf", 10, 2),
        ("c.pdf", 4, 1),
    ]:
        for k in range(questions):
            number += 1
            outcomes.append(asked(number, source, passed=k >= failed))
    hard = hard_documents(outcomes)
    assert hard.questions == 27 and hard.library_share == pytest.approx(10 / 27)
    # b fails less often than the library (20 % against 37 %), c once: not listed.
    assert [(title, questions, failed) for title, _, questions, failed in hard.rows] == [
        ("d.pdf", 3, 2),
        ("a.pdf", 10, 5),
    ]

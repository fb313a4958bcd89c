"""Evidence selection, verification, the loop guard and abstention: pure logic, with a
small fake embedding where meaning matters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from rag_core.answers.abstention import AbstentionParams, decide, key_terms, missing_terms
from rag_core.answers.chat import extractive_text, quote
from rag_core.answers.evidence import EvidenceParams, EvidenceSelector
from rag_core.answers.loops import LoopGuard, guarded
from rag_core.answers.sentences import split_sentences
from rag_core.answers.terms import code_tokens, figures
from rag_core.answers.verification import Verifier, split_answer
from rag_core.search.hits import Hit


def hit(text: str, *, number: int = 1, page: int | None = 1, title: str = "doc.pdf") -> Hit:
    return Hit(number, number, title, f"/drop/{title}", page, page, 0, text, 0.6, 0.1, False)


class BagOfWords:
    """A stand-in embedding: words hashed into 64 dimensions, normalised."""

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, hash(word.strip(".,;:?")) % 64] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] /= norm if norm else 1.0
        return out


def select(question: str, passages: Sequence[Hit], **params: float) -> list[str]:
    embed = BagOfWords()
    selector = EvidenceSelector(embed, EvidenceParams(**params))  # type: ignore[arg-type]
    return [e.text for e in selector.select(question, embed([question])[0], passages)]


# --- sentences ----------------------------------------------------------------------


def test_sentences_keep_their_span_in_the_passage() -> None:
    text = "The fee is 30 days.  Dr. Smith, e.g. the owner, signs it.\nA second line ends here."
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == [
        "The fee is 30 days.",
        "Dr. Smith, e.g. the owner, signs it.",
        "A second line ends here.",
    ]
    for sentence in sentences:
        assert text[sentence.start : sentence.end] == sentence.text


def test_wrapped_lines_join_but_table_rows_and_headings_stand_alone() -> None:
    text = (
        "Termination\nEither party may end this agreement by giving\nninety days' written "
        "notice.\nAdjusted EBIT 1,608 1,720\nAdjusted EBITDA 2,018 2,100"
    )
    flat = [s.flat for s in split_sentences(text)]
    assert flat == [
        "Termination",
        "Either party may end this agreement by giving ninety days' written notice.",
        "Adjusted EBIT 1,608 1,720",
        "Adjusted EBITDA 2,018 2,100",
    ]


def test_a_run_on_text_is_cut_into_quotable_pieces() -> None:
    text = "word " * 400
    sentences = split_sentences(text)
    assert len(sentences) > 1
    assert all(len(s.text) <= 400 for s in sentences)


@pytest.mark.parametrize("text", ["", "   \n\n  ", "\x0c"])
def test_empty_text_has_no_sentences(text: str) -> None:
    assert [s for s in split_sentences(text) if s.text.strip("\x0c")] == []


# --- terms ---------------------------------------------------------------------------


def test_figures_are_read_as_numbers() -> None:
    assert figures("$1,608 million, 2.50 mg, 15% and (1,234)") == ["1608", "2.5", "15", "1234"]


def test_code_tokens_are_kept_whole() -> None:
    assert code_tokens(r"Use \newgeometry or § 4.2 of the 10-K, not page_style") == [
        r"\newgeometry",
        "§ 4.2",
        "10-K",
        "page_style",
    ]


# --- evidence selection ---------------------------------------------------------------


def test_evidence_picks_the_sentence_that_answers() -> None:
    passages = [
        hit(
            "The clinic opens at eight. Parking is free for patients. The notice period "
            "for termination is ninety days."
        ),
        hit("Termination of employment is handled by HR.", number=2, page=4),
    ]
    chosen = select("What is the notice period for termination?", passages, max_sentences=1)
    assert chosen == ["The notice period for termination is ninety days."]


def test_evidence_never_quotes_two_near_copies() -> None:
    same = "The monthly fee for the service is 120 euros per household."
    passages = [
        hit(same),
        hit(same.replace("120", "120,"), number=2),
        hit("Fees are due monthly.", number=3),
    ]
    chosen = select("What is the monthly fee?", passages, max_sentences=3, keep_ratio=0.0)
    assert len(chosen) == 2
    assert chosen[0] == same


def test_evidence_of_empty_or_number_only_passages_is_empty() -> None:
    passages = [hit(""), hit("   "), hit("12 14 16 18", number=2)]
    assert select("What is the fee?", passages) == []


def test_quoted_evidence_names_its_source_and_page() -> None:
    embed = BagOfWords()
    selector = EvidenceSelector(embed, EvidenceParams(max_sentences=1))
    question = "What is the notice period?"
    passages = [hit("Intro text here. The notice period is ninety days.", page=2)]
    evidence = selector.select(question, embed([question])[0], passages)
    assert quote(evidence[0]) == "“The notice period is ninety days.” [1] (page 2)"
    text_file = [hit("The notice period is ninety days.", page=None)]
    plain = selector.select(question, embed([question])[0], text_file)
    assert extractive_text(plain) == "“The notice period is ninety days.” [1]"


# --- verification -----------------------------------------------------------------------

AMCOR = (
    "Reconciliation of non-GAAP measures (in millions)\n"
    "Net income attributable to Amcor 1,048\n"
    "Adjusted EBIT 1,608\n"
    "Adjusted EBITDA 2,018\n"
)


def test_a_figure_beside_another_measure_does_not_verify() -> None:
    verifier = Verifier()
    wrong = "Amcor's adjusted non-GAAP EBITDA for FY 2023 was $1,608 million [1]."
    right = "Amcor's adjusted non-GAAP EBITDA for FY 2023 was $2,018 million [1]."
    titles = ["AMCOR_2023_10K.pdf"]
    [bad] = verifier.verify(wrong, [AMCOR], titles)
    [good] = verifier.verify(right, [AMCOR], titles)
    assert not bad.verified
    assert "1608" in bad.reason
    assert good.verified


def test_a_figure_that_is_nowhere_does_not_verify() -> None:
    [verdict] = Verifier().verify(
        "The notice period is 30 days [1].", ["The notice period is 90 days."]
    )
    assert not verdict.verified
    assert "30" in verdict.reason


def test_an_invented_command_is_caught() -> None:
    source = r"Use \vpageref to refer to a page; \vrefrange refers to a range of labels."
    [verdict] = Verifier().verify(
        r"The command that refers to a page is \vpagerefcomparenearby [1].", [source]
    )
    assert not verdict.verified
    assert "vpagerefcomparenearby" in verdict.reason


def test_an_invented_name_is_caught() -> None:
    source = "Past faculty include physicist Lisa Randall and writer Helen Vendler."
    [verdict] = Verifier().verify(
        "Past faculty include physicist Lisa Randall and writer Naledi Blackstone [1].", [source]
    )
    assert not verdict.verified


def test_a_negation_the_source_lacks_is_caught() -> None:
    source = "The Americas had large empires such as the Aztec and Incan Empires."
    [verdict] = Verifier().verify(
        "The Aztec and Incan Empires were not large empires [1].", [source]
    )
    assert not verdict.verified


def test_words_gathered_from_all_over_a_passage_verify_nothing() -> None:
    source = (
        "The set-top unit records programmes. Interactive services use OpenTV. "
        "Sky launched HD channels in 2006. Prices rose that year. "
        "The proprietary modem provides a return path. A box is included."
    )
    [verdict] = Verifier().verify("The proprietary set-top box is called Sky HD [1].", [source])
    assert not verdict.verified


def test_a_sentence_borne_out_by_its_source_verifies() -> None:
    source = "Either party may end this agreement by giving ninety days' written notice."
    [verdict] = Verifier().verify(
        "Either party may end the agreement with ninety days' written notice [1].", [source]
    )
    assert verdict.verified
    assert verdict.cites == (1,)


def test_a_missing_or_impossible_citation_is_replaced_by_the_source_that_bears_it_out() -> None:
    sources = ["The clinic opens at eight.", "The monthly fee is 120 euros."]
    verdicts = Verifier().verify(
        "The monthly fee is 120 euros [9]. The clinic opens at eight.", sources
    )
    assert [(v.verified, v.cites) for v in verdicts] == [(True, (2,)), (True, (1,))]


def test_an_uncited_sentence_no_source_bears_out_is_not_shown_as_fact() -> None:
    [verdict] = Verifier().verify(
        "The fee is waived for veterans.", ["The monthly fee is 120 euros."]
    )
    assert not verdict.verified
    assert verdict.cites == ()


def test_citations_after_the_full_stop_belong_to_the_sentence_before() -> None:
    assert split_answer("The fee is 120 euros. [2] It is due monthly [1,3].") == [
        ("The fee is 120 euros.", (2,)),
        ("It is due monthly.", (1, 3)),
    ]


def test_preambles_small_models_write_are_taken_off() -> None:
    assert split_answer("The answer is: 12_Fresno.txt: The fee is 120 euros [1].") == [
        ("The fee is 120 euros.", (1,))
    ]
    assert split_answer("The answer to the question is: 120 euros [1].") == [("120 euros.", (1,))]


def test_a_question_is_no_answer() -> None:
    [verdict] = Verifier().verify("What is the fee [1]?", ["What is the fee? It is 120 euros."])
    assert not verdict.verified


def test_a_model_that_writes_nothing_gives_no_sentences() -> None:
    assert Verifier().verify("", ["The fee is 120 euros."]) == []
    assert Verifier().verify("[1] [2]", ["The fee is 120 euros."]) == []


# --- loop guard ---------------------------------------------------------------------------


def test_the_loop_guard_ends_a_runaway_stream() -> None:
    pieces = iter(["\\usepackage[fancy, "] + ["fancypaper, "] * 200)
    guard = LoopGuard()
    shown = "".join(guarded(pieces, guard))
    assert guard.looped
    assert shown.count("fancypaper") < 12


def test_the_loop_guard_ends_a_repeated_sentence() -> None:
    sentence = "The notice period is ninety days according to the contract. "
    guard = LoopGuard()
    shown = "".join(guarded(iter([w + " " for w in (sentence * 10).split()]), guard))
    assert guard.looped
    assert shown.count("ninety") <= 3


def test_the_loop_guard_lets_ordinary_text_through() -> None:
    text = (
        "The Chicago school of economics, the Chicago school of sociology, the law and "
        "economics movement and the Chicago school of literary criticism all began there."
    )
    guard = LoopGuard()
    assert "".join(guarded(iter(text.split(" ")), guard)) == text.replace(" ", "")
    assert not guard.looped


def test_the_loop_guard_closes_the_model_stream() -> None:
    closed = []

    def model() -> object:
        try:
            while True:
                yield "again and "
        finally:
            closed.append(True)

    list(guarded(model(), LoopGuard()))  # type: ignore[arg-type]
    assert closed == [True]


# --- abstention -----------------------------------------------------------------------------


def test_key_terms_are_names_figures_and_codes() -> None:
    terms = key_terms(
        "What is the termination notice period in the Acme Corp supply agreement of 2019?"
    )
    assert terms == ["Acme", "Corp", "2019"]
    assert key_terms(r"How do I use \newgeometry?") == [r"\newgeometry"]
    # Acronyms, whole numbers and ordinals are the asker's words, not necessarily the text's.
    assert key_terms("What is the FY2018 COGS in USD, using 365 days, in the 17th year?") == [
        "FY2018"
    ]


def test_a_name_no_passage_has_makes_the_answer_abstain() -> None:
    passages = [hit("Either party may end this agreement by giving ninety days' notice.")]
    question = "What is the termination notice period in the Acme Corp supply agreement?"
    assert missing_terms(question, passages) == ["Acme", "Corp"]
    embed = BagOfWords()
    evidence = EvidenceSelector(embed, EvidenceParams()).select(
        question, embed([question])[0], passages
    )
    decision = decide(question, passages, evidence, AbstentionParams())
    assert decision.abstain
    assert "“Acme”" in decision.message()


def test_names_found_in_any_form_do_not_abstain() -> None:
    passages = [hit("In fiscal 2018 3M spent $1,577 million on capital.", title="3M_2018_10K.pdf")]
    assert missing_terms("What is the FY2018 capital expenditure for 3M?", passages) == []
    # A misspelt name still counts as present.
    assert missing_terms("When did Temur die?", [hit("Timur died in 1405.")]) == []


OIL = (
    "Finding oil and developing new fields usually required five to ten years before "
    "significant production."
)
TERMS = "The contract may be terminated with ninety days notice."
BUILDING = "Construction is the process of constructing a building or infrastructure."


@pytest.mark.parametrize(
    ("question", "sentence", "verified"),
    [
        # A wh-question's words may frame the answer where the source words it otherwise.
        (
            "How long does it take for new areas to have significant oil production?",
            "It takes five to ten years for new areas to have significant oil production.",
            True,
        ),
        # Without the question, the same sentence has too many words the source lacks.
        ("", "It takes five to ten years for new areas to have significant oil production.", False),
        # A yes/no question's words are the claim: they must be in the source.
        (
            "Does the contract allow pets?",
            "The contract allows pets with ninety days notice.",
            False,
        ),
        ("Does the contract allow pets?", "The contract allows pets.", False),
        # Only the question's words: nothing to check.
        ("What does the contract allow?", "The contract allows it.", False),
        # A word made from the question's is the answer ("Construction" for
        # "constructing"), where an inflection of it is not.
        (
            "What is the process of constructing a building or infrastructure?",
            "Construction is the process of constructing a building or infrastructure.",
            True,
        ),
        (
            "What is the process of constructing a building or infrastructure?",
            "The process constructs buildings or infrastructure.",
            False,
        ),
    ],
)
def test_an_answer_may_be_framed_in_a_wh_question_s_words_only(
    question: str, sentence: str, verified: bool
) -> None:
    [verdict] = Verifier().verify(sentence, [OIL, TERMS, BUILDING], question=question)
    assert verdict.verified == verified, verdict.reason


def test_a_closing_pointer_to_the_evidence_is_not_part_of_the_sentence() -> None:
    [(body, cites)] = split_answer("It is Masovian gothic, as stated in the evidence [1].")
    assert body == "It is Masovian gothic." and cites == (1,)

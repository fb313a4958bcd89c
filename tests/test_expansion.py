"""A weak question searched again with the answer model's words (real database, real
embedder; the answer model is scripted, so what it writes is known)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from rag_core.answers.chat import ABSTAIN_MESSAGE, ABSTAIN_WITH_WORDS_MESSAGE, AnswerMode
from rag_core.answers.expansion import ModelExpander, usable_words
from rag_core.answers.prompting import NO_ANSWER, Prompt
from rag_core.errors import GenerationFailed, QuestionRejected
from rag_core.modelfiles.catalog import EMBEDDINGGEMMA, MINILM
from rag_core.search.retrieval import RetrievalParams, Retriever
from rag_core.services import Services
from tests.helpers import make_pdf

LAYOUT_PAGES = [
    "The page layout package. Paper sizes: a4paper, letterpaper, legalpaper. The text "
    "area is set by the left, right, top and bottom margins.",
    "Two-sided printing. The twoside option gives odd and even pages their own inner "
    "and outer margins, so that facing pages mirror each other.",
    "Marginal notes are placed beside the text; their width is set by the margin "
    "note width and their distance from the text by the note separation.",
    "Headers and footers are set with the fancy header package: the header rule, the "
    "footer rule and the marks of each chapter.",
    "Orientation. The landscape option rotates the paper by ninety degrees, so that its "
    "width exceeds its height; portrait is the default orientation.",
    "Licence. This work may be distributed and modified under the conditions of the "
    "project public licence, version 1.3 or later.",
]
ORIENTATION = 5  # the page that answers SIDEWAYS
SIDEWAYS = "How do I turn the page sideways?"  # the words of issue 31's example
MODEL_WORDS = "Use the landscape option to rotate the paper orientation."


class _Model:
    """A scripted answer model: writes `text` (or fails), and remembers each prompt."""

    def __init__(self, text: str = MODEL_WORDS, fails: bool = False) -> None:
        self.text = text
        self.fails = fails
        self.prompts: list[Prompt] = []
        self.max_tokens: list[int | None] = []

    def stream(
        self, prompt: Prompt, *, answer: bool = False, max_tokens: int | None = None
    ) -> Iterator[str]:
        self.prompts.append(prompt)
        self.max_tokens.append(max_tokens)
        if self.fails:
            raise GenerationFailed("The generation service could not be reached.")
        yield self.text


@pytest.fixture
def layout(services: Services, tmp_path: Path) -> Services:
    make_pdf(tmp_path / "layout.pdf", LAYOUT_PAGES)
    results = list(services.ingestor.ingest_paths([tmp_path / "layout.pdf"]))
    assert [r.outcome for r in results] == ["ingested"]
    # Six short pages about one subject: the best of them is closer to any question
    # than a page of a long manual is (0.45 here for SIDEWAYS), so the bar is raised.
    retriever = services.retriever
    retriever.params = replace(retriever.params, weak_similarity=0.5)
    return services


def _pages(hits: list) -> list[int | None]:
    return [hit.page for hit in hits]


def test_a_weak_question_is_searched_again_with_the_models_words(layout: Services) -> None:
    retriever = layout.retriever
    plain = retriever.search(SIDEWAYS, top_k=2)
    assert retriever.weak(plain), f"the question should be weak here: {plain[0].score:.2f}"
    assert ORIENTATION not in _pages(plain)  # the orientation page is not found by the words asked

    model = _Model()
    retriever.expand = ModelExpander(model)
    hits = retriever.search(SIDEWAYS, top_k=2)

    assert ORIENTATION in _pages(hits)
    assert hits[0].chunk_id == plain[0].chunk_id  # the question's own first stays first
    assert all(hit.found_with == MODEL_WORDS for hit in hits)
    # The model was told what the library holds, and kept short.
    assert len(model.prompts) == 1 and "layout.pdf" in model.prompts[0].system
    assert model.max_tokens == [80]


def test_similarity_is_still_the_questions_own(layout: Services) -> None:
    """The model's words move passages; whether one is relevant is judged on the
    question, so an invented answer cannot lift a passage over the relevance floor."""
    retriever = layout.retriever
    every = len(LAYOUT_PAGES)
    plain = {hit.chunk_id: hit for hit in retriever.search(SIDEWAYS, top_k=every)}
    retriever.expand = ModelExpander(_Model())
    hits = retriever.search(SIDEWAYS, top_k=every)
    assert hits[0].found_with == MODEL_WORDS
    assert {hit.chunk_id for hit in hits} == set(plain)
    for hit in hits:
        assert hit.score == pytest.approx(plain[hit.chunk_id].score, abs=1e-6)
        assert hit.text_match == plain[hit.chunk_id].text_match


def test_a_close_question_asks_no_model(layout: Services) -> None:
    model = _Model()
    layout.retriever.expand = ModelExpander(model)
    layout.retriever.params = replace(layout.retriever.params, weak_similarity=0.40)
    hits = layout.retriever.search("Which option rotates the paper by ninety degrees?", top_k=3)
    assert not layout.retriever.weak(hits)
    assert hits[0].page == ORIENTATION and hits[0].found_with is None
    assert model.prompts == []


def test_the_same_question_asks_the_model_once(layout: Services) -> None:
    model = _Model()
    expander = ModelExpander(model)
    layout.retriever.expand = expander
    first = layout.retriever.search(SIDEWAYS, top_k=3)
    again = layout.retriever.search(SIDEWAYS, top_k=3)
    assert _pages(first) == _pages(again)
    assert len(model.prompts) == 1 and expander.asked == 1
    expander.clear()  # forgotten: the model is asked again
    layout.retriever.search(SIDEWAYS, top_k=3)
    assert len(model.prompts) == 2 and expander.asked == 2


def test_without_a_usable_model_the_search_is_as_without_one(layout: Services) -> None:
    retriever = layout.retriever
    plain = retriever.search(SIDEWAYS, top_k=3)
    for model in (_Model(fails=True), _Model(text=f"{NO_ANSWER}."), _Model(text=SIDEWAYS)):
        retriever.expand = ModelExpander(model)
        hits = retriever.search(SIDEWAYS, top_k=3)
        assert [h.chunk_id for h in hits] == [h.chunk_id for h in plain]
        assert all(hit.found_with is None for hit in hits)
        assert len(model.prompts) == 1


def test_an_off_topic_question_still_abstains(layout: Services) -> None:
    """A model that answers anything (here: about the library's own subject) does not
    make the appliance answer a question the documents cannot."""
    model = _Model(text="Lima is the capital; see the landscape option and paper margins.")
    layout.retriever.expand = ModelExpander(model)
    answer = layout.chat.ask(
        "What is the capital city of Peru?", mode=AnswerMode.EXTRACTIVE
    ).complete()
    assert len(model.prompts) == 1  # it was weak, and the model was asked
    assert answer.abstained


def test_the_chat_shows_what_was_searched_for(layout: Services) -> None:
    layout.retriever.expand = ModelExpander(_Model())
    stream = layout.chat.ask(SIDEWAYS, mode=AnswerMode.EXTRACTIVE)
    assert stream.sources and stream.sources[0].found_with == MODEL_WORDS
    assert ORIENTATION in [hit.page for hit in stream.sources]
    assert stream.complete().searched_with == MODEL_WORDS


def test_too_far_to_answer_is_not_said_to_hold_no_answer(layout: Services) -> None:
    """Below the relevance floor the chat abstains, but the passages the model's words
    found may say it in other words: the message sends the reader to them."""
    layout.retriever.expand = ModelExpander(_Model())
    layout.chat.params = replace(layout.chat.params, relevance_floor=0.99)
    answer = layout.chat.ask(SIDEWAYS, mode=AnswerMode.EXTRACTIVE).complete()
    assert answer.abstained and answer.text == ABSTAIN_WITH_WORDS_MESSAGE
    assert answer.words_may_answer  # the page's heading: "not vouched for"
    assert ORIENTATION in [hit.page for hit in answer.sources]


def test_words_that_found_nothing_close_get_the_plain_abstention(layout: Services) -> None:
    """The model answers an off-topic question from what it knows; its words find no
    passage close to them, so the chat says plainly that the documents do not hold it,
    not that the passages shown may say it in other words."""
    model = _Model(text="Leonardo da Vinci painted the Mona Lisa in Florence around 1503.")
    layout.retriever.expand = ModelExpander(model)
    answer = layout.chat.ask("Who painted the Mona Lisa?", mode=AnswerMode.EXTRACTIVE).complete()
    assert len(model.prompts) == 1  # weak, and searched again
    assert answer.abstained and answer.text == ABSTAIN_MESSAGE and not answer.words_may_answer
    assert answer.searched_with is None  # its answer-like words are not shown


class _InUse:
    """The library's embedder as the retriever sees it: the model in use, by name."""

    def __init__(self, space: str) -> None:
        self.space = space

    def current(self) -> _InUse:
        return self


@pytest.mark.parametrize(
    ("space", "bar"),
    [
        (MINILM.name, 0.40),
        (EMBEDDINGGEMMA.name, 0.48),  # its cosines run higher
        ("/site/own-model", 0.40),
    ],
)
def test_the_weak_bar_is_the_embedding_models_own(
    services: Services, space: str, bar: float
) -> None:
    retriever = Retriever(services.db, _InUse(space), RetrievalParams())  # type: ignore[arg-type]
    assert retriever.weak_similarity() == bar
    retriever.params = replace(retriever.params, weak_similarity=0.3)  # a site's own bar
    assert retriever.weak_similarity() == 0.3


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", None),
        ("   ", None),
        (f"{NO_ANSWER}", None),
        ("How do I turn the PAGE sideways?", None),
        ("Use  the landscape\noption.", "Use the landscape option."),
    ],
)
def test_usable_words(text: str, words: str | None) -> None:
    assert usable_words(text, SIDEWAYS) == words


class _TurnTakingModel(_Model):
    """A scripted model that also records a person's turns with it, as the service
    client's `turn` takes them (the quality worker waits while one is held)."""

    model_path = Path("scripted.gguf")

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        self.events.append("turn")
        yield
        self.events.append("end")

    def stream(
        self, prompt: Prompt, *, answer: bool = False, max_tokens: int | None = None
    ) -> Iterator[str]:
        self.events.append("answer" if answer else "words")
        yield from super().stream(prompt, answer=answer, max_tokens=max_tokens)

    def refusal(self, prompt: Prompt) -> float:
        self.events.append("refusal")
        return 0.0


def test_a_persons_turn_spans_the_models_words_and_the_answer(
    layout: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One turn from the search to the answer's end: between the words and the
    # answer a waiting worker's request would otherwise get the model first.
    model = _TurnTakingModel()
    layout.retriever.expand = ModelExpander(model)
    monkeypatch.setattr(layout.chat, "generator", model)
    stream = layout.chat.ask(SIDEWAYS, mode=AnswerMode.AUTO)
    assert model.events == ["turn", "words"]  # held while the stream is read
    stream.complete()
    assert model.events == ["turn", "words", "refusal", "answer", "end"]
    # A question refused before any work takes no turn it keeps.
    with pytest.raises(QuestionRejected):
        layout.chat.ask("   ")
    assert model.events[-2:] == ["turn", "end"]

"""A written answer -> each sentence checked against the sources it cites, by code.

A sentence is verified when
- enough of its content words are in its cited sources (`min_support`), and most of
  them stand together in one place (`unit_support`: a sentence or table row and the
  one after it), so words gathered from all over a passage verify nothing;
- every name (a capitalised word past the sentence's start) is in a cited source;
- every code-like token (`\\command`, `§ 4.2`, `snake_case`) is in a cited source;
- every figure is in a cited source, in a sentence or table row that also holds what the
  answer says the figure measures: most of the sentence's own describing words that the
  source has at all.  So "$1,608m" found beside "Adjusted EBIT" does not verify a
  sentence about EBITDA, though both words are somewhere in the source;
- it says "not" only where its source does, and it is not a question;
- it says more than the question: the answer to a wh-question ("How long does it take
  for new areas to have significant oil production?": "It takes five to ten years for
  new areas to have significant oil production") may frame itself in the question's
  words where the source has others ("areas", "takes"), for at most half of its words,
  and what it adds to the question must be in the source; a sentence made only of the
  question's words verifies nothing.  A yes/no question presupposes nothing: its words
  are the claim, and must be in the source like any other.
Citations are attached here, not trusted from the model: a sentence is checked against
the sources it cites, then against every other source, and cites the first that bears
it out; one that no source verifies is not shown as fact.  A figure alone ("2") says
nothing checkable about what it measures and does not verify.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag_core.answers.highlight import stem
from rag_core.answers.sentences import split_sentences
from rag_core.answers.terms import (
    GENERIC,
    STOPWORDS,
    code_tokens,
    content_stems,
    figures,
    has_stem,
    words,
)

_CITATION = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
# What small models put before an answer: "The answer is:", "Evidence:", a file name.
_PREAMBLE = re.compile(
    r"^(?:according\s+to\s+the\s+(?:evidence|sources?|documents?)\s*,\s*"
    r"|(?:the\s+)?(?:answer|evidence|response)(?:\s+to\s+(?:the|this|your)\s+question)?"
    r"(?:\s+is)?\s*:\s*|[\w,.()-]+\.(?:txt|md|pdf)\s*:\s*)+",
    re.IGNORECASE,
)
# ... and after it: "..., as stated in the evidence."
_POSTSCRIPT = re.compile(
    r",?\s+(?:as\s+(?:stated|mentioned|said|shown|given|written|noted)\s+in|according\s+to)"
    r"\s+(?:the\s+)?(?:evidence|sources?|documents?|passages?)(?=\s*[.!]?$)",
    re.IGNORECASE,
)
_LEADING_CITATIONS = re.compile(r"^(?:\[\d{1,3}(?:\s*,\s*\d{1,3})*\]\s*)+(?=\S)")
_ONLY_CITATIONS = re.compile(r"^(?:\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\]\s*[.,;]?)+$")


@dataclass(frozen=True)
class VerificationParams:
    min_support: float = 0.8  # share of the sentence's content words found in its sources
    unit_support: float = 0.5  # describing words together in one sentence or row (and the next)
    label_support: float = 0.5  # share of a figure's describing words in its own row


@dataclass(frozen=True)
class Verdict:
    """One sentence of a written answer; `text` has no citation marks."""

    text: str
    cites: tuple[int, ...]  # valid source numbers, as written or as found by the check
    verified: bool
    reason: str = ""  # why not, in words for staff

    def rendered(self) -> str:
        marks = "".join(f"[{n}]" for n in self.cites)
        body = self.text.rstrip()
        if body.endswith((".", "!", "?")):
            return f"{body[:-1]} {marks}{body[-1]}" if marks else body
        return f"{body} {marks}." if marks else body + "."


def split_answer(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """The sentences of a written answer with the numbers they cite (a citation standing
    after a full stop belongs to the sentence before it)."""
    parts: list[tuple[str, list[int]]] = []
    for sentence in split_sentences(text):
        flat = sentence.flat
        if leading := _LEADING_CITATIONS.match(flat):  # "... euros. [2] It is ..."
            if parts:
                parts[-1][1].extend(int(n) for n in re.findall(r"\d+", leading.group()))
            flat = flat[leading.end() :]
        numbers = [int(n) for group in _CITATION.findall(flat) for n in group.split(",")]
        body = " ".join(_CITATION.sub(" ", flat).split())
        body = re.sub(r"\s+([.,;:!?])", r"\1", body)
        body = _POSTSCRIPT.sub("", _PREAMBLE.sub("", body))
        if _ONLY_CITATIONS.match(flat) or not body.strip(" .,;"):
            if parts:
                parts[-1][1].extend(numbers)
            continue
        parts.append((body, numbers))
    return [(body, tuple(dict.fromkeys(numbers))) for body, numbers in parts]


class Verifier:
    def __init__(self, params: VerificationParams = VerificationParams()) -> None:
        self.params = params

    def verify(
        self, text: str, sources: Sequence[str], titles: Sequence[str] = (), question: str = ""
    ) -> list[Verdict]:
        """Each sentence of `text` checked; `sources[n - 1]` is the text of [n]."""
        return [
            self.sentence(body, numbers, sources, titles, question)
            for body, numbers in split_answer(text)
        ]

    def sentence(
        self,
        body: str,
        numbers: Sequence[int],
        sources: Sequence[str],
        titles: Sequence[str] = (),
        question: str = "",
    ) -> Verdict:
        """One sentence (`split_answer`'s body and the numbers it cites) checked; the
        question's words may frame it (`problem`'s `asked`)."""
        valid = tuple(n for n in numbers if 1 <= n <= len(sources))
        # Only a wh-question presupposes what it asks about ("Who founded it?": that it
        # was founded); a yes/no question's words are the claim to check.
        asked = frozenset(content_stems(question)) if _WH_QUESTION.match(question) else frozenset()
        if asked and repeats(body, question):
            return Verdict(body, valid, False, "it only repeats the question")
        return self._sentence(body, valid, sources, titles, asked)

    def _sentence(
        self,
        body: str,
        cites: tuple[int, ...],
        sources: Sequence[str],
        titles: Sequence[str],
        asked: frozenset[str],
    ) -> Verdict:
        if body.rstrip().endswith("?"):
            return Verdict(body, cites, False, "it is a question, not an answer")
        reason = ""
        if cites:
            problem = self.problem(
                body, [sources[n - 1] for n in cites], [_at(titles, n) for n in cites], asked
            )
            if problem is None:
                return Verdict(body, cites, True)
            reason = problem
        # The citation is the code's to attach: the first source (in rank order) that
        # bears the sentence out is cited, whatever number the model wrote, if any.
        for number, source in enumerate(sources, start=1):
            if number in cites:
                continue
            if self.problem(body, [source], [_at(titles, number)], asked) is None:
                return Verdict(body, (number,), True)
        if not reason and len(sources) == 1:
            reason = self.problem(body, sources, titles[:1], asked) or ""
        return Verdict(body, cites, False, reason or "no source contains it")

    def problem(
        self,
        sentence: str,
        cited: Sequence[str],
        titles: Sequence[str] = (),
        asked: frozenset[str] = frozenset(),
    ) -> str | None:
        """Why `sentence` is not borne out by the `cited` texts, or None if it is.
        `asked`: the question's content stems (see `_checkable`)."""
        joined = "\n".join(cited)
        source_stems = set(content_stems(joined))
        figures_here = set(figures(sentence))
        stems = [s for s in dict.fromkeys(content_stems(sentence)) if s not in figures_here]
        stems, why = _checkable(stems, bool(figures_here), asked, source_stems)
        if why:
            return why
        unit_texts = [unit.text for text in cited for unit in split_sentences(text)]
        units = [(set(figures(unit)), set(content_stems(unit))) for unit in unit_texts]
        folded = "\n".join([joined, *titles]).casefold()
        for token in [*code_tokens(sentence), *names(sentence)]:
            if token.casefold() not in folded and stem(token) not in GENERIC:
                return f"“{token}” is not in the sources it cites"
        title_stems = set(content_stems(" ".join(titles)))
        label = [
            s
            for s in stems
            if s not in GENERIC and s not in title_stems and has_stem(source_stems, s)
        ]
        if stems:
            found = sum(1 for s in stems if has_stem(source_stems, s))
            if found < self.params.min_support * len(stems):
                return "most of its words are not in the sources it cites"
        # Words that say what the sentence is about (not the document's name, not
        # "million" or "year"): most must stand together in one place.
        described = [s for s in stems if s not in GENERIC and s not in title_stems] or stems
        if described:
            together, place = max(
                (
                    (sum(1 for s in described if has_stem(here | after, s)), number)
                    for number, ((_, here), (_, after)) in enumerate(
                        zip(units, [*units[1:], (set(), set())], strict=True)
                    )
                ),
                default=(0, 0),
            )
            if together < self.params.unit_support * len(described):
                return "its words are scattered over the source, not said together"
            said = " ".join(unit_texts[place : place + 2])
            if _NEGATION.search(sentence) and not _NEGATION.search(said):
                return "it says “not” where the source does not"
        in_titles = set(re.findall(r"\d+", " ".join(titles)))  # "AMCOR_2023_10K.pdf"
        for figure in figures_here - in_titles:
            rows = [unit_stems for unit_figures, unit_stems in units if figure in unit_figures]
            if not rows:
                return f"the figure {figure} is not in the sources it cites"
            if label and not any(
                sum(1 for s in label if has_stem(row, s)) >= self.params.label_support * len(label)
                for row in rows
            ):
                return f"the figure {figure} stands in the sources beside something else"
        return None


def _checkable(
    stems: list[str], has_figures: bool, asked: frozenset[str], source_stems: set[str]
) -> tuple[list[str], str | None]:
    """The sentence's stems to check: less the question's words that the source does
    not use (at most half of them); or why there is nothing to check."""
    if not stems and not has_figures:
        return stems, "it says nothing the sources could confirm"
    if has_figures and not [s for s in stems if s not in GENERIC]:
        return stems, "it gives a figure without saying what the figure is"
    framing = [s for s in stems if has_stem(asked, s) and not has_stem(source_stems, s)]
    if len(framing) > len(stems) / 2:
        return stems, "most of its words are not in the sources it cites"
    return [s for s in stems if s not in framing], None


def _inflected(word: str) -> str:
    """`word` without an inflection ("takes", "taken", "taking": "tak"), keeping the
    suffixes that make another word of it ("construction" is not "constructing")."""
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-2] if word.endswith(("ses", "xes", "zes", "ches", "shes")) else word[:-1]
    for suffix in ("ing", "ed", "en"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word.removesuffix("e")


def repeats(sentence: str, question: str) -> bool:
    """Whether the sentence says nothing the question did not: each of its words (no
    figure among them) is one of the question's, give or take an inflection.  A word
    made from one of the question's ("Construction" for "constructing") is an answer."""
    if figures(sentence):
        return False
    asked = {_inflected(w) for w in words(question) if w not in STOPWORDS}
    said = {_inflected(w) for w in words(sentence) if w not in STOPWORDS and len(w) > 1}
    return said <= asked


_WH_QUESTION = re.compile(
    r"^\W*(?:[\w'’-]+\W+){0,3}?(?:what|who|whom|whose|when|where|which|why|how)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<=[\s(\"'“‘/])[A-Z][\w’'-]*[\w]")
_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|none|cannot|without)\b|n[’']t\b", re.I)


def names(sentence: str) -> list[str]:
    """Capitalised words past the sentence's first: names, as far as a rule can tell."""
    return [n.removesuffix("'s").removesuffix("’s") for n in _NAME.findall(sentence)]


def _at(titles: Sequence[str], number: int) -> str:
    return titles[number - 1] if 0 < number <= len(titles) else ""

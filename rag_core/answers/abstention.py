"""Whether to answer at all, decided from the evidence, never by the model.

The relevance floor (in `chat`) turns away questions about nothing in the library.  A
question on the library's topic can still ask for something that is not there: a
contract party, a year, a command no document names.  Two checks catch that:
- a term the question depends on (a name, a figure, a code-like token) appears in no
  retrieved passage, nor in its document's title: "the Acme Corp supply agreement"
  when no document mentions Acme;
- the best evidence sentence is weak: below `min_evidence` by the evidence score.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag_core.answers.evidence import Evidence
from rag_core.answers.sentences import split_sentences
from rag_core.answers.terms import STOPWORDS, code_tokens, content_stems, figures, has_stem, words
from rag_core.search.hits import Hit

_NAME = re.compile(r"[^\W\d_][\w'’&.-]*")
_FIGURE_IN_TOKEN = re.compile(r"\d+(?:\.\d+)?")
_ORDINAL = re.compile(r"\d+(?:st|nd|rd|th)", re.IGNORECASE)  # "17th" may be "seventeenth"
_YEAR = re.compile(r"(?:19|20)\d\d")
_PERCENT = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s?%")
# Capitalised in questions without being names.
_NOT_NAMES = frozenset(
    [
        "i",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "is",
        "are",
        "was",
        "were",
        "do",
        "does",
        "did",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "has",
        "have",
        "had",
        "please",
        "give",
        "list",
        "name",
        "describe",
        "explain",
        "tell",
        "compare",
    ]
)


@dataclass(frozen=True)
class AbstentionParams:
    min_evidence: float = 0.0  # the best evidence sentence's score must reach this
    check_terms: bool = True


@dataclass(frozen=True)
class Decision:
    abstain: bool
    missing: tuple[str, ...] = ()  # the question's terms no source has; () when weak

    def message(self) -> str:
        if self.missing:
            named = ", ".join(f"“{term}”" for term in self.missing)
            return (
                f"The documents do not contain an answer to this question: {named} "
                "appears in none of the passages found. The nearest passages are below."
            )
        return (
            "The documents do not contain an answer to this question: the passages "
            "found do not say it. The nearest passages are below."
        )


def key_terms(question: str) -> list[str]:
    """The terms an answer depends on: names (capitalised past a sentence's first word),
    code-like tokens, years and exact figures (with a decimal point or a per cent).

    Left out on purpose, by measurement on FinanceBench's analyst questions: acronyms in
    capitals (USD, COGS, EBITDA are the asker's vocabulary, the filing may spell them
    out), whole numbers such as the 365 of a formula the question defines, and ordinals
    ("the 17th century" may be written "seventeenth")."""
    terms: list[str] = []
    for sentence in split_sentences(question):
        tokens = _NAME.findall(sentence.text)
        for raw in tokens[1:]:
            token = raw.rstrip(".'’-").removesuffix("'s").removesuffix("’s")
            bare = token.lower()
            if (
                token[:1].isupper()
                and not token.isupper()
                and bare not in STOPWORDS
                and bare not in _NOT_NAMES
            ):
                terms.append(token)
    terms.extend(t for t in code_tokens(question) if not _ORDINAL.fullmatch(t))
    terms.extend(f for f in figures(question) if _YEAR.fullmatch(f) or "." in f)
    terms.extend(p.group(1) for p in _PERCENT.finditer(question))
    return list(dict.fromkeys(terms))


_MIN_FUZZY = 5  # letters from which a misspelt name still counts ("Temur" for "Timur")
_FUZZY_CUTOFF = 0.8


def _present(
    term: str, folded: str, stems: set[str], numbers: set[str], vocabulary: list[str]
) -> bool:
    if term.casefold() in folded:
        return True
    if term.replace(",", "").replace(".", "").isdigit():
        return term in numbers
    digits = _FIGURE_IN_TOKEN.findall(term)
    if digits and all(d in numbers for d in digits):  # "FY2018" by its year
        return True
    parts = [w for w in words(term) if w not in STOPWORDS]
    if parts and all(has_stem(stems, s) for s in content_stems(" ".join(parts))):
        return True
    return all(
        len(part) >= _MIN_FUZZY
        and bool(difflib.get_close_matches(part, vocabulary, n=1, cutoff=_FUZZY_CUTOFF))
        for part in parts
    ) and bool(parts)


def missing_terms(question: str, hits: Sequence[Hit]) -> list[str]:
    """The question's key terms that no passage (with its title and file name) contains."""
    joined = "\n".join(f"{hit.title}\n{Path(hit.source).name}\n{hit.text}" for hit in hits)
    folded = joined.casefold()
    stems = set(content_stems(joined))
    numbers = set(figures(joined))
    vocabulary = sorted(set(words(joined)))
    return [
        term
        for term in key_terms(question)
        if not _present(term, folded, stems, numbers, vocabulary)
    ]


def decide(
    question: str, hits: Sequence[Hit], evidence: Sequence[Evidence], params: AbstentionParams
) -> Decision:
    if not evidence:
        return Decision(abstain=True)
    if params.check_terms and (missing := missing_terms(question, hits)):
        return Decision(abstain=True, missing=tuple(missing))
    if evidence[0].score < params.min_evidence:
        return Decision(abstain=True)
    return Decision(abstain=False)

"""Questions from the library itself: the answer model reads a passage and writes one
question a staff member would ask that the passage answers, and its short answer.

Only questions the code can check are kept (`check`): the answer's words or figures are
in the passage, the question is a question in the passage's language, not a copy of the
passage and not a give-away of its answer.  Passages are drawn across documents, their
types and ages, and across each document's length (`spread`), not from first pages.

Questions the library cannot answer are made by the code from kept ones (`unanswerable`):
a name or rare term of the question is swapped for one that no passage of the library
holds ("the notice period of the Harbor lease" → "… of the Whitfield lease").  They
measure abstention on questions close to the library's topics.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag_core.answers.highlight import stem
from rag_core.answers.terms import STOPWORDS

GENERATION_SYSTEM_PROMPT = (
    "You write test questions for a document search system used by office staff. "
    "Read the passage and write ONE question that a staff member would ask and that "
    "this passage answers, about a fact in it. Use everyday words, the way a colleague "
    "would ask, not the passage's phrases. The question must make sense on its own: "
    "name the company, person, product or document it is about. Then give the short "
    "answer, copied from the passage (a few words or a figure).\n\n"
    "Example:\nDocument: Harbor Street lease 2021\nPassage: The Tenant may terminate this "
    "Lease by giving the Landlord not less than ninety (90) days' written notice.\n"
    "Question: How much warning must the tenant give to end the Harbor Street lease?\n"
    "Answer: ninety (90) days' written notice\n\n"
    "Reply in exactly two lines:\nQuestion: <the question>\nAnswer: <the short answer>"
)
# The start of a passage the model reads, and the most it may write (two short lines:
# a rambling reply is dropped anyway).  Measured on 30 FinanceBench passages, each
# variant over all of them in turn: 900 characters and the answer's 160-token cap 2.28 s
# a passage, 7 kept; 900 and 80 tokens 2.18 s, 7 kept; 600 and 80 tokens 2.20 s, 8 kept.
# Writing, not reading, is the cost.  (A first bench that asked both variants of each
# passage in a row showed 1.4 s for the shorter one: the model had kept the longer
# prompt's start.)  A full run of 100 at 600/80: 20 min 17 s, 455 passages; 16 min 05 s
# (451 passages) once a dropped question stopped the model (`questions._written`).
PASSAGE_CHARS = 600
GENERATION_MAX_TOKENS = 80
MIN_PASSAGE_WORDS = 20  # a clause of a contract is enough for a question

# Names a library is unlikely to hold; each is checked against the library before use.
STAND_INS = (
    "Whitfield",
    "Okonkwo",
    "Brightwater",
    "Marchetti",
    "Halvorsen",
    "Quillon",
    "Tavistock",
    "Ferreira",
    "Lindqvist",
    "Ashcombe",
)

_WORD = re.compile(r"[^\W_]+(?:[.,'][^\W_]+)*")
_FIGURE = re.compile(r"\d[\d,.]*")
_PERIOD = re.compile(r"\b(?:19|20)\d\d\b|\bFY\s?\d\d|\bQ[1-4]\b|\bfiscal\b", re.IGNORECASE)
_DATE = re.compile(
    r"\b(?:19|20)\d\d\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b"
    r"|\b(?:days?|weeks?|months?|years?|quarter|annually|monthly|daily)\b",
    re.IGNORECASE,
)
# Capitalised in questions without naming anyone: swapping them makes nonsense.
_NOT_NAMES = frozenset(
    [
        "president",
        "ceo",
        "cfo",
        "chief",
        "officer",
        "director",
        "directors",
        "board",
        "chairman",
        "form",
        "annual",
        "meeting",
        "act",
        "company",
        "corporation",
        "inc",
        "section",
        "item",
        "note",
        "plan",
        "agreement",
        "fiscal",
        "quarter",
        "q1",
        "q2",
        "q3",
        "q4",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "i",
        "u.s",
        "us",
        "united",
        "states",
    ]
)
_NUMBER_WORD = re.compile(
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty"
    r"|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|billion|half|double)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"([A-Z][\w&-]*[A-Za-z])(?:'s|’s)?[?,.;:]*$")
_QUESTION_LINE = re.compile(r"^\W*question\s*\d*\s*[:：]\s*(.+)$", re.IGNORECASE)
_ANSWER_LINE = re.compile(r"^\W*(?:short\s+)?answer\s*[:：]\s*(.+)$", re.IGNORECASE)
_DECORATION = ' *_"“”'  # markdown emphasis and quotes around a line
_MIN_QUESTION_WORDS = 4
_MAX_QUESTION_WORDS = 30
_MAX_ANSWER_WORDS = 25
_COPIED_RUN = 6  # words in a row shared with the passage: a copy
# Of the question's content words, the share found in the passage, at most.  Questions
# above it favour word matching: on FinanceBench dev, generated questions with more than
# 60 % ranked full text first (page@5 0.76 against vector 0.56) where the human-written
# questions rank it last (0.22 against 0.63); those at or under 60 % ranked it last too.
_MAX_CONTENT_OVERLAP = 0.6
_MIN_ANSWER_COVERAGE = 0.8  # of the answer's content words found in the passage
_MIN_FUNCTION_WORDS = 0.2  # an English question has some "what", "the", "is"…
# Words that name no fact: "What is the name of the company?" asks nothing.
_VAGUE = frozenset(
    [
        "name",
        "names",
        "company",
        "companies",
        "document",
        "documents",
        "title",
        "file",
        "report",
        "firm",
        "business",
        "organisation",
        "organization",
        "information",
        "details",
        "detail",
        "passage",
        "text",
    ]
)
# A question that names its file ("the cash consideration for MGMRESORTS_2023Q2_10Q.pdf")
# asks about the file the model was shown, not about a fact a person would look up: 5
# of 50 generated questions read by hand (issue 33), 4 of them not answerable as asked.
_FILE_NAME = re.compile(
    r"\b[\w.-]+\.(?:pdf|docx?|xlsx?|pptx?|odt|ods|rtf|txt|md|csv|html?|eml|msg)\b", re.I
)
# A question that points at its passage cannot be asked of a library.
_SELF_REFERENCE = re.compile(
    r"\b(?:(?:the|this|that|above|given) (?:passage|text|excerpt|paragraph|section|document|"
    r"table|page)|mentioned (?:above|in)|listed (?:above|in)|(?:discussed|described|set forth) "
    r"below|according to the"
    r"|(?:this|these) (?:[\w-]+ )?(?:agreement|indenture|lease|contract|plan|report|filing|form"
    r"|policy|manual|guide|chapter|article|amendment|exhibit|note|statement)s?)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Passage:
    """A passage a question is generated from."""

    chunk_id: int
    document_id: int
    title: str
    source: str
    page: int | None
    page_end: int | None
    text: str


@dataclass(frozen=True)
class Generated:
    """A kept question: from `passage`, with its short answer."""

    question: str
    answer: str
    passage: Passage


def prompt_text(passage: Passage) -> str:
    return f"Document: {passage.title}\nPassage:\n{passage.text[:PASSAGE_CHARS].strip()}\n"


def parse(text: str) -> tuple[str, str] | None:
    """The question and answer the model wrote, or None if it wrote neither form."""
    question = answer = None
    for line in text.splitlines():
        if question is None and (match := _QUESTION_LINE.match(line.strip())):
            question = match.group(1).strip(_DECORATION)
        elif question is not None and answer is None and (match := _ANSWER_LINE.match(line)):
            answer = match.group(1).strip(_DECORATION).rstrip(".")
    if not question or not answer:
        return None
    return " ".join(question.split()), " ".join(answer.split())


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _content(tokens: Sequence[str]) -> list[str]:
    return [t for t in tokens if t not in STOPWORDS and not t.isdigit()]


def _longest_shared_run(question: Sequence[str], passage: Sequence[str]) -> int:
    """The most words in a row the question shares with the passage."""
    longest = 0
    previous = [0] * (len(passage) + 1)
    for q in question:
        current = [0] * (len(passage) + 1)
        for j, p in enumerate(passage, start=1):
            if q == p:
                current[j] = previous[j - 1] + 1
                longest = max(longest, current[j])
        previous = current
    return longest


def _latin_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(1 for c in letters if c.isascii()) / len(letters) if letters else 0.0


def check(question: str, answer: str, passage: str) -> str | None:
    """Why a generated question is dropped, or None to keep it.  The reasons are the
    counts a generation reports."""
    q_words, a_words, p_words = words(question), words(answer), words(passage)
    return (
        _malformed(question, q_words)
        or _no_short_answer(a_words)
        or _foreign(question, q_words, passage)
        or _ungrounded(question, answer, q_words, a_words, p_words, passage)
        or _copied(q_words, p_words)
    )


def check_question(question: str, passage: str) -> str | None:
    """Why a question is dropped whatever its answer, or None: the rules of `check`
    that read the question alone, so a generation can stop once its question is
    written (`question_written`).  A question `check` would drop for its answer as
    well is counted here under the question's reason."""
    q_words = words(question)
    return (
        _malformed(question, q_words)
        or _foreign(question, q_words, passage)
        or _copied(q_words, words(passage))
    )


def question_written(text: str) -> str | None:
    """The question of a generation still being written, once its line is complete
    (the model has gone on to the next line)."""
    for line in text.splitlines(keepends=True):
        if (match := _QUESTION_LINE.match(line.strip())) and line.endswith("\n"):
            return " ".join(match.group(1).strip(_DECORATION).split())
    return None


def _malformed(question: str, q_words: list[str]) -> str | None:
    if not question.endswith("?") or question.count("?") > 1:
        return "not a question"
    if not _MIN_QUESTION_WORDS <= len(q_words) <= _MAX_QUESTION_WORDS:
        return "not a question"
    if max(Counter(q_words).values()) > 3:
        return "nonsense"
    if _SELF_REFERENCE.search(question) or _FILE_NAME.search(question):
        return "points at its passage"
    if len([w for w in _content(q_words) if w not in _VAGUE]) < 2:
        return "too vague"
    return None


def _no_short_answer(a_words: list[str]) -> str | None:
    if not a_words or len(a_words) > _MAX_ANSWER_WORDS:
        return "no short answer"
    return None


def _foreign(question: str, q_words: list[str], passage: str) -> str | None:
    """An English passage asked about in another language (or script)."""
    if _latin_share(passage) <= 0.9:
        return None
    function_words = sum(1 for w in q_words if w in STOPWORDS)
    if _latin_share(question) < 0.9 or function_words < _MIN_FUNCTION_WORDS * len(q_words):
        return "another language"
    return None


def _ungrounded(
    question: str,
    answer: str,
    q_words: list[str],
    a_words: list[str],
    p_words: list[str],
    passage: str,
) -> str | None:
    """The answer must be checkable in the passage, and not given by the question."""
    a_content = _content(a_words)
    a_figures = _FIGURE.findall(answer)
    if not a_figures and not a_content:
        return "no short answer"
    if not all(f.rstrip(".,") in passage for f in a_figures):
        return "answer not in the passage"
    p_stems = {stem(w) for w in p_words}
    found = sum(1 for w in a_content if stem(w) in p_stems)
    if found < _MIN_ANSWER_COVERAGE * len(a_content):
        return "answer not in the passage"
    q_stems = {stem(w) for w in q_words}
    if all(f in question for f in a_figures) and all(stem(w) in q_stems for w in a_content):
        return "answer in the question"
    if not _fits(question, answer, a_figures):
        return "answer does not fit the question"
    if a_figures and not _PERIOD.search(question) and _in_a_row(a_figures[0], p_words):
        return "figure without its year"
    return None


def _fits(question: str, answer: str, figures: list[str]) -> bool:
    """The answer is of the kind the question asks for: a name for "who", a date or
    year for "when", a figure for "how much" / "how many" / "what percentage"."""
    asks = question.lower()
    if asks.startswith(("who ", "whom ")):
        return any(w[:1].isupper() for w in answer.split())
    if asks.startswith("when "):
        return bool(_DATE.search(answer))
    if asks.startswith(("how much ", "how many ", "what percentage ", "what percent ")):
        return bool(figures or _NUMBER_WORD.search(answer))
    return True


def _in_a_row(figure: str, p_words: list[str]) -> bool:
    """Whether `figure` stands in a table row of the passage: other figures right
    beside it (a row has one per year; without a year the question is ambiguous)."""
    target = words(figure)
    for i, w in enumerate(p_words):
        if target and w == target[0]:
            near = p_words[max(0, i - 4) : i] + p_words[i + 1 : i + 5]
            if sum(1 for n in near if _FIGURE.fullmatch(n)) >= 2:
                return True
    return False


def _copied(q_words: list[str], p_words: list[str]) -> str | None:
    if _longest_shared_run(q_words, p_words) >= _COPIED_RUN:
        return "copies the passage"
    q_content = _content(q_words)
    p_stems = {stem(w) for w in p_words}
    shared = sum(1 for w in q_content if stem(w) in p_stems)
    if len(q_content) >= 3 and shared > _MAX_CONTENT_OVERLAP * len(q_content):
        return "copies the passage"
    return None


def unanswerable(question: str, absent: Callable[[str], bool], rng: random.Random) -> str | None:
    """`question` with the first name inside it (capitalised words after the first
    word, "Adobe Sign" as one, a possessive kept) swapped for a stand-in name the
    library does not hold (`absent(name)`); None when it names nothing."""
    tokens = question.split()
    names = [_NAME.match(t) if i else None for i, t in enumerate(tokens)]
    start = next(
        (
            i
            for i, m in enumerate(names)
            if m and m.group(1).lower() not in STOPWORDS and m.group(1).lower() not in _NOT_NAMES
        ),
        None,
    )
    if start is None:
        return None
    end = start + 1  # past the name's last word: the words run on until punctuation
    while end < len(tokens) and names[end] and names[end - 1].group(0) == names[end - 1].group(1):  # type: ignore[union-attr]
        end += 1
    stand_ins = list(STAND_INS)
    rng.shuffle(stand_ins)
    name = next((n for n in stand_ins if absent(n)), None)
    if name is None:
        return None
    last = names[end - 1]
    assert last is not None
    return " ".join([*tokens[:start], name + last.group(0)[len(last.group(1)) :], *tokens[end:]])


@dataclass(frozen=True)
class DocumentSpan:
    """One document's passages, for sampling: ids in reading order."""

    document_id: int
    document_type: str
    created_order: int  # the document's rank by age, oldest first
    chunk_ids: tuple[int, ...]


def spread(documents: Sequence[DocumentSpan], wanted: int, seed: int = 0) -> list[int]:
    """Up to `wanted` passage ids drawn across documents and across each one's length:
    documents taken in turn, alternating types and ages, and the k-th passage drawn from
    a document comes from its k-th stretch (a random one within it), so a long manual is
    read from cover to index, not from its first pages."""
    rng = random.Random(seed)
    turn = _in_turn(documents)
    chosen: list[int] = []
    seen: set[int] = set()
    draws: dict[int, int] = {}
    stretches = max(1, -(-wanted // max(len(turn), 1)))  # passages each document gives
    while len(chosen) < wanted and turn:
        drew = False
        for document in turn:
            k = draws.get(document.document_id, 0)
            ids = document.chunk_ids
            parts = min(stretches, len(ids))  # a short document: one passage a part
            if k >= parts:
                continue
            start = k * len(ids) // parts
            end = max(start + 1, (k + 1) * len(ids) // parts)
            draws[document.document_id] = k + 1
            drew = True
            pick = ids[rng.randrange(start, end)]
            if pick not in seen:
                seen.add(pick)
                chosen.append(pick)
                if len(chosen) >= wanted:
                    break
        if not drew:
            if stretches >= max(len(d.chunk_ids) for d in turn):
                break
            stretches += 1  # few documents: take more from each
            draws.clear()
    return chosen


def _in_turn(documents: Sequence[DocumentSpan]) -> list[DocumentSpan]:
    """Documents in the order they are drawn from: the oldest and the newest of a type
    alternate, and the types alternate with each other."""
    by_type: dict[str, list[DocumentSpan]] = {}
    for document in sorted(documents, key=lambda d: d.created_order):
        if document.chunk_ids:
            by_type.setdefault(document.document_type, []).append(document)
    orders: list[list[DocumentSpan]] = []
    for group in by_type.values():
        mixed: list[DocumentSpan] = []
        low, high = 0, len(group) - 1
        while low <= high:
            mixed.append(group[low])
            if high != low:
                mixed.append(group[high])
            low, high = low + 1, high - 1
        orders.append(mixed)
    turn: list[DocumentSpan] = []
    for position in range(max((len(o) for o in orders), default=0)):
        turn.extend(o[position] for o in orders if position < len(o))
    return turn

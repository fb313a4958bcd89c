"""Saved web pages (.html, .htm): the main text (the <main> or <article> when there is
one), headings as sections, table rows as "cell | cell"; scripts, styles, forms and
navigation left out.  Nothing is fetched: links, images and frames are text at most."""

from __future__ import annotations

import re
from pathlib import Path

from rag_core.extract.common import Extracted, Page, normalize_text, usable_title
from rag_core.extract.structure import Heading, tidy_title
from rag_core.extract.text import read_text

_DROPPED = ["script", "style", "noscript", "template", "iframe", "object", "embed", "svg"]
_DROPPED += ["canvas", "form", "nav", "footer", "aside", "button", "select", "head"]
_HEADINGS = {f"h{n}": n - 1 for n in range(1, 7)}
_BLOCKS = {"p", "div", "section", "li", "ul", "ol", "tr", "table", "dt", "dd", "pre"}
_BLOCKS |= {"blockquote", "figcaption", "caption", "header", "article", "main", "hr"}
_ROW_END = re.compile(r"\s*\|\s*$", re.MULTILINE)


def read(path: Path, max_pages: int, max_chars: int) -> Extracted:
    page, title = html_page(read_text(path, max_chars))
    return Extracted([page], title, "html")


def html_page(markup: str) -> tuple[Page, str]:
    """The text of an HTML document (also an e-mail's HTML body) and its title."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(_DROPPED):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    found = [
        (_HEADINGS[tag.name], tidy_title(tag.get_text(" ", strip=True)))
        for tag in root.find_all(list(_HEADINGS))
    ]
    for tag in root.find_all(True):
        if tag.name in _BLOCKS or tag.name in _HEADINGS:
            tag.insert_before("\n\n")
            tag.append("\n\n")
        elif tag.name in {"td", "th"}:
            tag.append(" | ")
        elif tag.name == "br":
            tag.replace_with("\n")
    text = normalize_text(_ROW_END.sub("", root.get_text()))
    headings: list[Heading] = []
    at = 0
    for level, heading in found:
        where = text.find(heading, at) if heading else -1
        if where >= 0:
            headings.append(Heading(where, level, heading))
            at = where + len(heading)
    first_heading = headings[0].title if headings else ""
    return Page(None, text, tuple(headings)), usable_title(title) or first_heading

"""Build a retrieval development set in the BEIR layout from Debian's Linux man pages.

    apt-get install manpages            # Debian package, sections 2, 3, 5 and 7
    python scripts/build_manpages_devset.py OUT_DIR [--sample N] [--seed 7]

Corpus: one document per man page (not the `.so` redirects): its name and section as
title, its DESCRIPTION section as text (macros stripped, first 2,000 characters).
Queries: each page's own one-line summary from its NAME section ("pipe, pipe2 \\- create
pipe" gives "create pipe"), written by the page's authors, not generated; the page is
the one relevant document.  Summaries shared by several pages are dropped.  The
SPDX licence line of each page is kept in its corpus record.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from pathlib import Path

MAN_ROOT = Path("/usr/share/man")
SECTIONS = ("man2", "man3", "man5", "man7")
MAX_CHARS = 2000

_FONT = re.compile(r"\\f(\[[^\]]*\]|\(..|.)")
_NAMED = re.compile(r"\\\[([a-z]+)\]")
_NAMED_TEXT = {"en": "–", "em": "—", "aq": "'", "dq": '"', "rs": "\\", "ti": "~", "ha": "^"}
_ESCAPES = {r"\-": "-", r"\(em": "—", r"\(en": "–", r"\e": "\\", r"\&": "", r"\~": " ", r"\ ": " "}


def plain(line: str) -> str:
    """One roff line as text: macros' arguments kept, font changes and escapes removed."""
    if line.startswith((".", "'")):
        parts = line.split(None, 1)
        if parts[0] in (".B", ".I", ".BR", ".BI", ".IR", ".RB", ".RI", ".IB", ".SM", ".SB"):
            line = parts[1].replace('"', "") if len(parts) > 1 else ""
            if parts[0] in (".BR", ".IR", ".RB", ".RI", ".BI", ".IB"):
                line = line.replace(" ", "")  # alternating fonts join their words
        else:
            return ""
    line = _FONT.sub("", line)
    for escape, text in _ESCAPES.items():
        line = line.replace(escape, text)
    return _NAMED.sub(lambda m: _NAMED_TEXT.get(m.group(1), ""), line)


def sections(source: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current = None
    for line in source.splitlines():
        if line.startswith('.\\"'):
            continue
        if line.startswith(".SH"):
            current = line[3:].strip().strip('"').upper()
            found[current] = []
        elif current is not None:
            found[current].append(line)
    return found


def read_page(path: Path) -> dict[str, str] | None:
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
        source = handle.read()
    if source.lstrip().startswith(".so "):
        return None
    licence = re.search(r"SPDX-License-Identifier:\s*(.+)", source)
    parts = sections(source)
    name_text = " ".join(plain(line) for line in parts.get("NAME", []))
    if " - " not in name_text:
        return None
    summary = name_text.split(" - ", 1)[1].strip()
    description = " ".join(
        text for text in (plain(line) for line in parts.get("DESCRIPTION", [])) if text
    )
    description = re.sub(r"\s+", " ", description).strip()
    if not summary or len(description) < 200:
        return None
    page = path.name.removesuffix(".gz")
    name, section = page.rsplit(".", 1)
    return {
        "_id": page,
        "title": f"{name}({section})",
        "text": description[:MAX_CHARS],
        "summary": summary,
        "licence": licence.group(1).strip() if licence else "see /usr/share/doc/manpages",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--sample", type=int, help="keep a random sample of N pages")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    pages = []
    for section in SECTIONS:
        for path in sorted((MAN_ROOT / section).glob("*.gz")):
            page = read_page(path)
            if page is not None:
                pages.append(page)
    if not pages:
        parser.error(f"no man pages under {MAN_ROOT}; apt-get install manpages")
    counts: dict[str, int] = {}
    for page in pages:
        counts[page["summary"].lower()] = counts.get(page["summary"].lower(), 0) + 1
    pages = [page for page in pages if counts[page["summary"].lower()] == 1]
    if args.sample:
        pages = sorted(random.Random(args.seed).sample(pages, args.sample), key=lambda p: p["_id"])

    (args.out / "qrels").mkdir(parents=True, exist_ok=True)
    with (args.out / "corpus.jsonl").open("w", encoding="utf-8") as corpus:
        for page in pages:
            record = {
                "_id": page["_id"],
                "title": page["title"],
                "text": page["text"],
                "metadata": {"licence": page["licence"]},
            }
            corpus.write(json.dumps(record, ensure_ascii=False) + "\n")
    with (args.out / "queries.jsonl").open("w", encoding="utf-8") as queries:
        for number, page in enumerate(pages):
            queries.write(json.dumps({"_id": f"q{number}", "text": page["summary"]}) + "\n")
    with (args.out / "qrels" / "test.tsv").open("w", encoding="utf-8") as qrels:
        qrels.write("query-id\tcorpus-id\tscore\n")
        for number, page in enumerate(pages):
            qrels.write(f"q{number}\t{page['_id']}\t1\n")
    print(f"{len(pages)} pages written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

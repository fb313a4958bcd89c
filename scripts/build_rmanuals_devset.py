"""Assemble the R manuals page-level set: the committed questions and the PDFs of
Debian's `r-doc-pdf` package, in one folder for `python -m rag_core.eval library`.

    apt-get install r-doc-pdf
    python scripts/build_rmanuals_devset.py OUT_DIR
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

MANUALS = Path("/usr/share/R/doc/manual")
NAMES = ("R-FAQ", "R-admin", "R-data", "R-exts", "R-intro", "R-ints", "R-lang")
QUESTIONS = Path(__file__).resolve().parent.parent / "eval/r-manuals/questions.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write (files are copied, not linked)")
    args = parser.parse_args()
    missing = [name for name in NAMES if not (MANUALS / f"{name}.pdf").is_file()]
    if missing:
        parser.error(f"{MANUALS} lacks {', '.join(missing)}: apt-get install r-doc-pdf")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        shutil.copyfile(MANUALS / f"{name}.pdf", args.out / f"{name}.pdf")
    shutil.copyfile(QUESTIONS, args.out / "questions.jsonl")
    print(f"{len(NAMES)} manuals and {QUESTIONS.name} written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

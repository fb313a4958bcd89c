"""Follow-up questions: the rule against the answer model's rewrite.

    python -m rag_core.eval followups PAIRS.jsonl SQUAD_DIR [--json OUT]

PAIRS.jsonl holds `document`, `topic` (the earlier question), `follow_up` and `answers`
(gold answers of the follow-up); SQUAD_DIR is the SQuAD 2.0 folder whose articles they
are about (ingested into the same side database `eval answers` uses).  Each follow-up is
made stand-alone by the rule alone and by the model (`conversation.ModelRewriter`), then
answered in `extractive` mode (quotes only, so the search is what is compared): gold
answer in the quoted evidence, the article among the sources, and the rewrite's time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rag_core.answers.chat import AnswerMode
from rag_core.answers.conversation import ModelRewriter, Turn, next_turn
from rag_core.eval.answers import contains_gold, database_name, load
from rag_core.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rag_core.eval followups",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pairs", type=Path, help="follow-up pairs (JSON lines)")
    parser.add_argument("dataset", type=Path, help="the SQuAD 2.0 folder they are about")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    from rag_core.access.phi_logs import configure_logging
    from rag_core.eval.sides import side_settings
    from rag_core.services import build_services

    settings = Settings()
    configure_logging(settings)
    pairs = [json.loads(line) for line in args.pairs.read_text().splitlines() if line.strip()]
    dataset = load(args.dataset)
    services = build_services(side_settings(settings, database_name(dataset, settings)))
    rewriter = ModelRewriter(services.generator)
    rows: list[dict[str, Any]] = []
    try:
        for document in sorted({p["document"] for p in pairs}):
            services.ingestor.ingest_file(dataset.files / document)
        services.generator.warm()
        for pair in pairs:
            topic = Turn(pair["topic"], pair["topic"], pair["topic"])
            row: dict[str, Any] = {"follow_up": pair["follow_up"]}
            for way, rewrite in (("rule", None), ("model", rewriter)):
                started = time.perf_counter()
                turn = next_turn(pair["follow_up"], topic, rewrite)
                seconds = time.perf_counter() - started
                answer = services.chat.ask(turn.standalone, mode=AnswerMode.EXTRACTIVE).complete()
                row[way] = {
                    "searched": turn.standalone,
                    "seconds": round(seconds, 2),
                    "gold_quoted": not answer.abstained
                    and bool(contains_gold(answer.text, pair["answers"], False)),
                    "article_found": any(
                        Path(h.source).name == pair["document"] for h in answer.sources
                    ),
                }
            rows.append(row)
            print(f"{row['model']['searched']!r}  (rule: {row['rule']['searched']!r})")
    finally:
        services.close()
    summary = {
        way: {
            "gold_quoted": sum(r[way]["gold_quoted"] for r in rows) / len(rows),
            "article_found": sum(r[way]["article_found"] for r in rows) / len(rows),
            "rewritten_by_model": sum(r[way]["searched"] != r["rule"]["searched"] for r in rows),
            "seconds_p50": sorted(r[way]["seconds"] for r in rows)[len(rows) // 2],
        }
        for way in ("rule", "model")
    }
    print(f"{len(rows)} follow-ups")
    for way, figures in summary.items():
        print(
            f"{way:<6} gold in the quotes {figures['gold_quoted']:.0%}, article among the "
            f"sources {figures['article_found']:.0%}, model's rewrite used "
            f"{figures['rewritten_by_model']}, rewrite p50 {figures['seconds_p50']} s"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))
    return 0

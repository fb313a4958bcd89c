"""Command line: `python -m rag_core {ingest,search,ask,status,models}`.

Output contract (checks depend on it):
  ingest PATH...            one line per file; exit 1 if any failed
  search QUERY [--json]     {"query", "hits": [{document_id, title, source, page,
                             chunk_index, section, score, text}]}
  ask QUESTION [--json]     {"answer", "abstained", "mode", "cited", "evidence": [{source,
                             page, text}], "sentences_written", "sentences_verified",
                             "model" (the answer model's file, or null when it was
                             not asked), "sources": [same fields as hits]}
  status [--json]           whether ingestion runs ({"ingestion": {running, watchers,
                             workers, watcher_last_seen}}), the files still to read
                             and the time they will take ({"backlog": {files, bytes,
                             bytes_per_second, pages_per_second, seconds_left}}),
                             documents by status, chunks, the answer model
                             ({"answer_model": {file, mode, usable, problem}}) and
                             the embedding model ({"embedding_model": {in_use,
                             configured, passages_done, passages_total}})
  retry [PATH...]           queue failed files (all, or these) for another try
  reembed                   embed every passage again with RAG_EMBEDDING_MODEL when
                            the library's vectors come from another model (progress
                            on stderr; search keeps working meanwhile); the watcher
                            does the same when no file waits
  models [--fetch NAME] [--list]
                            place the models (the answer model's slices fetched,
                            joined and hash-checked; the embedding model's too when
                            it ships in slices), then list the answer and embedding
                            models
  users add|list|disable|enable|reset-password|first-admin
                            accounts that may sign in to the app
  backup PATH / restore PATH [--replace]
                            the database and the drop folder's files, in one tar
Exit status 2 means the command could not run (bad question, missing model, no
database); the message says why.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rag_core.cli_admin import add_commands as add_admin_commands
from rag_core.cli_admin import run as run_admin
from rag_core.errors import RagError
from rag_core.modelfiles.catalog import ANSWER_MODELS, EMBEDDING_MODELS, by_file
from rag_core.settings import Settings

log = logging.getLogger("rag_core")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rag_core",
        description="Private document chat: ingest files, search them, ask questions. "
        "Settings come from the environment and .env (see .env.example).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="ingest files or folders (recursively)")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument("--type", dest="document_type", help="document type to record")
    ingest.add_argument(
        "--tag", dest="tags", action="append", default=[], help="tag to record (repeatable)"
    )

    for name, help_text in (
        ("search", "retrieve passages only"),
        ("ask", "answer a question from the documents, with sources"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("query", metavar="QUERY" if name == "search" else "QUESTION")
        cmd.add_argument("--top-k", type=int, default=None, help="passages to retrieve")
        cmd.add_argument(
            "--type",
            dest="document_types",
            action="append",
            default=[],
            help="only documents of this type (repeatable)",
        )
        cmd.add_argument(
            "--tag",
            dest="tags",
            action="append",
            default=[],
            help="only documents with this tag (repeatable; any matches)",
        )
        cmd.add_argument("--json", action="store_true", help="print JSON")

    sub.add_parser(
        "reembed",
        help="embed every passage again with RAG_EMBEDDING_MODEL, when the library's "
        "vectors come from another model (search keeps working on them meanwhile)",
    )
    status = sub.add_parser("status", help="documents by status and chunk count")
    status.add_argument("--json", action="store_true", help="print JSON")

    retry = sub.add_parser("retry", help="queue failed files for another try by the watcher")
    retry.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="files to retry (default: every failed file)",
    )

    reindex = sub.add_parser(
        "reindex",
        help="queue files to be read again by the watcher (their passages stay searchable "
        "meanwhile): after an upgrade that reads more from a file, such as its table rows",
    )
    reindex.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files to read again")
    reindex.add_argument("--all", action="store_true", help="every file in the library")

    add_admin_commands(sub)
    sub.add_parser(
        "exposure",
        help="print the address the app serves on (RAG_SERVER_ADDRESS), or refuse (exit 2) "
        "one other machines can reach while sign-in is off",
    )
    models = sub.add_parser(
        "models",
        help="place the models in models_cache/ (link the packaged ones, fetch, join and "
        "check the sliced answer model named by RAG_ANSWER_MODEL and the embedding model "
        "named by RAG_EMBEDDING_MODEL, export the embedding model to int8 ONNX), then list "
        "the answer and embedding models",
    )
    models.add_argument(
        "--fetch",
        action="append",
        default=[],
        choices=sorted(
            [name for name, m in ANSWER_MODELS.items() if m.slices]
            + [name for name, m in EMBEDDING_MODELS.items() if m.archive]
        ),
        help="also fetch and check this answer or embedding model (repeatable)",
    )
    models.add_argument("--list", action="store_true", help="only list the models; place nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    from rag_core.access.phi_logs import configure_logging

    configure_logging(settings)
    try:
        if args.command == "models":
            return _models(settings, args)
        if args.command == "exposure":
            from rag_core.access.exposure import check_exposure

            check_exposure(settings.server_address, settings.auth_enabled)
            print(settings.server_address)
            return 0
        if args.command in ("users", "backup", "restore"):
            return run_admin(args, settings)
        from rag_core.services import build_services

        services = build_services(settings)
        try:
            handler = {
                "ingest": _ingest,
                "search": _search,
                "ask": _ask,
                "status": _status,
                "retry": _retry,
                "reindex": _reindex,
                "reembed": _reembed,
            }
            return handler[args.command](services, args)
        finally:
            services.close()
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _models(settings: Settings, args: argparse.Namespace) -> int:
    if not args.list:
        _place_models(settings, args.fetch)
    from rag_core.modelfiles import answer_model_rows
    from rag_core.modelfiles.assemble import check_archive

    print(f"answer models in {settings.models_dir} (* answers; RAG_ANSWER_MODEL):")
    for row in answer_model_rows(settings.models_dir, settings.llm_path):
        mark = "*" if row.answers else " "
        if not row.check.present:
            state = "not fetched" if row.name != "own" else "missing"
        elif row.check.verified:
            state = f"{row.check.size / 1e6:,.0f} MB, sha256 verified"
        elif row.check.problem:
            state = f"NOT USABLE: {row.check.problem}"
        else:
            state = f"{row.check.size / 1e6:,.0f} MB, not hash-pinned"
        licence = f", licence {row.licence.name}" if row.licence else ""
        print(f"{mark} {row.name:<20} {row.file.name}  {state}{licence}")
    print("embedding models (* configured; RAG_EMBEDDING_MODEL):")
    for model in EMBEDDING_MODELS.values():
        mark = "*" if model.name == settings.embedding_space else " "
        folder = settings.models_dir / model.folder
        if model.archive is not None:
            found = check_archive(model, settings.models_dir)
            state = "sha256 verified" if found.verified else found.problem or "not fetched"
        else:
            state = "linked from its package" if folder.exists() else "not linked"
        print(f"{mark} {model.name:<20} {model.folder}/  {state}, licence {model.licence}")
    return 0


def _place_models(settings: Settings, also: Sequence[str]) -> None:
    from rag_core.modelfiles.assemble import assemble, assemble_archive, place_licence
    from rag_core.modelfiles.packaged import link_packaged_models

    for path in link_packaged_models(settings.models_dir):
        print(f"ready     {path} -> {path.resolve()}")
    wanted = [by_file(settings.llm_path), *(ANSWER_MODELS[n] for n in also if n in ANSWER_MODELS)]
    for embedding in dict.fromkeys(
        m
        for m in (EMBEDDING_MODELS.get(settings.embedding_space), *map(EMBEDDING_MODELS.get, also))
        if m is not None and m.archive is not None
    ):
        print(f"checking  {embedding.title} (fetched and unpacked if needed: 1.2 GB)", flush=True)
        print(f"ready     {assemble_archive(embedding, settings.models_dir)} (sha256 verified)")
    for model in dict.fromkeys(m for m in wanted if m is not None):
        if model.slices is None:
            place_licence(model, settings.models_dir)
            continue
        print(f"checking  {model.title} (fetched and joined if needed: about 1 GB)", flush=True)
        print(f"ready     {assemble(model, settings.models_dir)} (size and sha256 verified)")
    if settings.embedding_backend == "onnx-int8":
        from rag_core.search.onnx_embedding import ensure_export, export_dir_for

        target = export_dir_for(settings.embedding_path, settings.models_dir)
        print(f"ready     {ensure_export(settings.embedding_path, target)} (int8 ONNX export)")


def _ingest(services: Any, args: argparse.Namespace) -> int:
    failed = 0
    for result in services.ingestor.ingest_paths(
        args.paths, document_type=args.document_type, tags=args.tags
    ):
        print(result.line(), flush=True)
        failed += result.failed
        for done in (result, *result.attachments):
            if done.retry_after is not None:
                # Tried again by the watcher (or any `ingest_watch` worker) when due.
                services.queue.enqueue(done.path, delay_seconds=done.retry_after)
    return 1 if failed else 0


def _filters(args: argparse.Namespace) -> Any:
    from rag_core.search.hits import Filters

    return Filters(document_types=tuple(args.document_types), tags=tuple(args.tags))


def _search(services: Any, args: argparse.Namespace) -> int:
    top_k = args.top_k or services.settings.top_k
    hits = services.retriever.search(args.query, top_k=top_k, filters=_filters(args))
    if args.json:
        _print_json({"query": args.query, "hits": [hit.to_json() for hit in hits]})
        return 0
    if not hits:
        print("No passages found.")
    for rank, hit in enumerate(hits, start=1):
        where = f"p. {hit.page}" if hit.page is not None else "text"
        snippet = " ".join(hit.text.split())[:160]
        print(f"{rank:2}. {hit.score:.3f}  {hit.title} ({where})\n    {snippet}")
    return 0


def _ask(services: Any, args: argparse.Namespace) -> int:
    from rag_core.access.audit import command_line_user
    from rag_core.answers.prompting import source_label

    stream = services.chat.ask(
        args.query, top_k=args.top_k, filters=_filters(args), user=command_line_user()
    )
    if args.json:
        _print_json(stream.complete().to_json())
        return 0
    for piece in stream:
        print(piece, end="", flush=True)
    print()
    if stream.sources:
        print("\nSources:")
        for number, hit in enumerate(stream.sources, start=1):
            print(f"  [{number}] {source_label(hit)}  (score {hit.score:.2f})  {hit.source}")
    return 0


def _status(services: Any, args: argparse.Namespace) -> int:
    counts = services.catalog.status_counts()
    files = services.catalog.documents()
    failed = [doc for doc in files if doc.status == "failed"]
    running = [doc for doc in files if doc.progress is not None]
    health = services.liveness.health()
    outlook = services.backlog.outlook()
    if args.json:
        _print_json(
            {
                "ingestion": {
                    "running": health.running,
                    "watchers": health.watchers,
                    "workers": health.workers,
                    "watcher_last_seen": health.last_seen.isoformat() if health.last_seen else None,
                },
                "backlog": {
                    "files": outlook.files_waiting,
                    "bytes": outlook.bytes_waiting,
                    "bytes_per_second": outlook.bytes_per_second,
                    "pages_per_second": outlook.pages_per_second,
                    "seconds_left": outlook.seconds_left,
                },
                "documents": {
                    "ready": counts.ready,
                    "processing": counts.processing,
                    "failed": counts.failed,
                    "queued": counts.queued,
                    "total": counts.documents,
                },
                "chunks": counts.chunks,
                "answer_model": _answer_model(services.settings),
                "embedding_model": _embedding_model(services),
                "failed": [
                    {
                        "source": doc.source,
                        "error": doc.error,
                        "next": doc.next_step(),
                        "retry_at": doc.retry_at.isoformat() if doc.retry_at else None,
                    }
                    for doc in failed
                ],
                "processing": [
                    {
                        "source": doc.source,
                        "chunks_done": doc.progress[0],
                        "chunks_total": doc.progress[1],
                    }
                    for doc in running
                ],
            }
        )
        return 0
    print(
        f"documents: {counts.ready} ready, {counts.processing} processing, "
        f"{counts.failed} failed, {counts.queued} queued; {counts.chunks} chunks"
    )
    print(health.summary(datetime.now().astimezone()))
    model = _answer_model(services.settings)
    print(
        f"answer model: {model['file']} ({model['mode']} mode)"
        + ("" if model["usable"] else f"; NOT USABLE: {model['problem']}")
    )
    if (change := services.model_change.progress()) is not None:
        print(change.line())
    if waiting := outlook.summary():
        print(waiting)
    for doc in running:
        done, total = doc.progress
        print(f"  processing  {doc.source}: {done}/{total} chunks embedded")
    for doc in failed:
        print(f"  failed      {doc.source}: {doc.error}; {doc.next_step()}")
    return 0


def _embedding_model(services: Any) -> dict[str, Any]:
    """The model the library's vectors come from, and a change to another under way."""
    configured = services.embedder.configured.space
    change = services.model_change.progress()
    return {
        "in_use": change.from_space if change else configured,
        "configured": configured,
        "passages_done": change.done if change else None,
        "passages_total": change.total if change else None,
    }


def _reembed(services: Any, _args: argparse.Namespace) -> int:
    change = services.model_change
    if change.progress() is None:
        print(f"the library's passages are embedded with {services.embedder.in_use()}")
        return 0
    change.run(lambda now: print(now.line(), file=sys.stderr, flush=True))
    print(f"the library's passages are embedded with {services.embedder.in_use()} now")
    return 0


def _answer_model(settings: Settings) -> dict[str, Any]:
    """Which model writes answers, and whether its file passes its check."""
    from rag_core.errors import ModelNotFound
    from rag_core.modelfiles import require_usable

    problem = None
    try:
        require_usable(settings.llm_path)
    except ModelNotFound as exc:
        problem = str(exc)
    return {
        "file": settings.llm_path.name,
        "mode": settings.answer_mode,
        "usable": problem is None,
        "problem": problem,
    }


def _retry(services: Any, args: argparse.Namespace) -> int:
    queued = services.retry_failed(args.paths or None)
    for path in queued:
        print(f"queued      {path}")
    for path in sorted({path.absolute() for path in args.paths} - set(queued)):
        print(f"not failed  {path}")
    return 0


def _reindex(services: Any, args: argparse.Namespace) -> int:
    if args.all == bool(args.paths):
        print("error: name the files to read again, or --all", file=sys.stderr)
        return 2
    if args.all:
        queued = services.library.reindex_all()
    else:
        for path in args.paths:
            services.library.reindex(path)
        queued = [path.absolute() for path in args.paths]
    for path in queued:
        print(f"queued      {path}")
    return 0


def _print_json(payload: dict[str, Any]) -> None:
    json.dump(payload, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")

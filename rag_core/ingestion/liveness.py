"""Which watchers and workers are alive.  Each ingest process writes a beat every few
seconds; the app reads them and tells staff when no watcher has beaten for a while,
so a dead watcher is seen rather than silently leaving dropped files unread."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from rag_core.db import Database
from rag_core.db.models import IngestProcess

BEAT_SECONDS = 10.0
# Missing three beats in a row: not alive.  (A beat runs on its own thread, so a long
# file being embedded does not hold it up.)
ALIVE_SECONDS = 3 * BEAT_SECONDS
FORGET_AFTER = timedelta(days=7)  # rows of processes gone this long are deleted


@dataclass(frozen=True)
class IngestionHealth:
    watchers: int  # alive now
    workers: int  # alive now, watchers included (each watcher works too)
    last_seen: datetime | None  # the last beat of any watcher, alive or not

    @property
    def running(self) -> bool:
        return self.watchers > 0

    def summary(self, now: datetime) -> str:
        """One sentence for staff: who is reading the drop folder, or that nobody is
        and what that means."""
        if self.running:
            helpers = self.workers - self.watchers
            extra = f" and {_count(helpers, 'helper worker')}" if helpers else ""
            return f"Reading the drop folder: {_count(self.watchers, 'watcher')}{extra}."
        if self.last_seen is None:
            since = "No watcher has run on this library yet"
        else:
            since = f"The watcher was last seen {_ago(now - self.last_seen)} ago"
        return (
            f"Ingestion is not running. {since}: files dropped now wait until it runs "
            "again. Start it with `make run`, or `python -m ingest_watch` on its own."
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _ago(span: timedelta) -> str:
    seconds = max(int(span.total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


class Liveness:
    def __init__(self, db: Database) -> None:
        self.db = db

    def beat(self, name: str, *, watches: bool, drop_dir: Path | None) -> None:
        """Process `name` is alive (first beat: it has started)."""
        statement = insert(IngestProcess).values(
            name=name, watches=watches, drop_dir=str(drop_dir) if drop_dir else None
        )
        with self.db.session() as session:
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=["name"], set_={"seen_at": sa.func.now()}
                )
            )

    def started(self, name: str, *, watches: bool, drop_dir: Path | None) -> None:
        """Process `name` starts (a pid reused since an earlier one starts afresh);
        rows of processes long gone are cleared."""
        with self.db.session() as session:
            session.execute(
                sa.delete(IngestProcess).where(
                    (IngestProcess.name == name)
                    | (IngestProcess.seen_at < sa.func.now() - FORGET_AFTER)
                )
            )
        self.beat(name, watches=watches, drop_dir=drop_dir)

    def stopped(self, name: str) -> None:
        """Process `name` stops cleanly: it is no longer counted."""
        with self.db.session() as session:
            session.execute(sa.delete(IngestProcess).where(IngestProcess.name == name))

    def health(self) -> IngestionHealth:
        alive = IngestProcess.seen_at >= sa.func.now() - timedelta(seconds=ALIVE_SECONDS)
        with self.db.session() as session:
            row = session.execute(
                sa.select(
                    sa.func.count().filter(alive & IngestProcess.watches),
                    sa.func.count().filter(alive),
                    sa.func.max(IngestProcess.seen_at).filter(IngestProcess.watches),
                )
            ).one()
        return IngestionHealth(watchers=row[0], workers=row[1], last_seen=row[2])

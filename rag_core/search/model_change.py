"""Which embedding model made the library's vectors, and moving them to another one
while search keeps working.

The library records the model its passages' vectors come from (`app_state`, key
`embedding_model`: the catalogue's name, such as `all-minilm-l6-v2`, or a folder).
When RAG_EMBEDDING_MODEL names another one and the library has passages:

- questions and new files are embedded with the recorded model, so search keeps
  working on the vectors there are (`LibraryEmbedder.current`);
- `EmbedderChange.step` embeds a batch of passages with the new model into
  `chunks.embedding_next` (the watcher does it whenever no file waits; `python -m
  rag_core reembed` does it at once, with progress); passages stored meanwhile are
  taken in a later batch;
- once every passage has its new vector, one transaction puts them in `embedding`,
  forgets the question history's vectors (of the old model) and records the new
  model.  Every process asks the database which model is in use while a change is
  under way, so all of them switch with that transaction;
- a file embedded with the old model whose passages reach the database after the
  switch is refused there (`check_space`) and embedded again (`ingest`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from rag_core.db import Database
from rag_core.db.models import EMBEDDING_DIM
from rag_core.errors import RagError
from rag_core.search.embedding import Embedder, stored_passage_in_context

log = logging.getLogger(__name__)

STATE_KEY = "embedding_model"
BATCH = 64  # passages embedded again per step: about 2 s of EmbeddingGemma on 2 cores
_COUNTING_SECONDS = 5.0


@dataclass(frozen=True)
class Embedded:
    """Passages' vectors and the model (its space) that made them."""

    vectors: np.ndarray
    space: str


class EmbedderChanged(RagError):
    """Passages embedded with one model reached a library that has moved to another."""


def recorded_space(conn: Connection | Session, *, lock: str = "") -> str | None:
    """The model the library's vectors come from; None before anything was recorded.
    `lock`: "FOR SHARE" or "FOR UPDATE" on its row."""
    value: str | None = conn.execute(
        sa.text(f"SELECT value FROM app_state WHERE key = :key {lock}"), {"key": STATE_KEY}
    ).scalar()
    return value


def _record(conn: Connection | Session, space: str) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO app_state (key, value) VALUES (:key, :value)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        ),
        {"key": STATE_KEY, "value": space},
    )


def settle_space(db: Database, configured: str, unrecorded: str | None = None) -> str:
    """At start-up: the model the library's vectors come from.  An empty library takes
    the configured one.  A library made before models were recorded was embedded by
    `unrecorded` (the default model, unless the site named its own folder): recorded
    as such, so that naming a new model in the same upgrade starts a change instead of
    reading old vectors as new ones."""
    with db.session() as session:
        current = recorded_space(session, lock="FOR UPDATE")
        if current == configured:
            return current
        empty = session.execute(sa.text("SELECT NOT EXISTS (SELECT 1 FROM chunks)")).scalar()
        if empty or current is None:
            current = configured if empty else (unrecorded or configured)
            _record(session, current)
            session.execute(
                sa.text("UPDATE chunks SET embedding_next = NULL WHERE embedding_next IS NOT NULL")
            )
            session.commit()
        return current


def check_space(session: Session, space: str) -> None:
    """In a transaction that stores passages embedded with `space`: raises
    EmbedderChanged when the library has moved to another model.  Holds the record
    (FOR SHARE) until the transaction ends, so no switch happens in between."""
    current = recorded_space(session, lock="FOR SHARE")
    if current is not None and current != space:
        raise EmbedderChanged(
            f"The library's passages are embedded with {current} now, not {space}."
        )


class LibraryEmbedder(Embedder):
    """The model whose vectors the library holds now: the configured one, or, while
    the library still holds another model's vectors, that one, so that questions and
    new passages meet the stored vectors.  Asked of the database at each question and
    each file (a moment's query), so every process follows a switch at once, even one
    started before the setting changed."""

    def __init__(
        self,
        configured: Embedder,
        db: Database,
        load: Callable[[str], Embedder],
    ) -> None:
        super().__init__(
            configured.model_path,
            configured.batch_size,
            configured.backend,
            configured.export_dir,
            configured.truncate,
            configured.space,
        )
        self.configured = configured
        self._db = db
        self.load_space = load
        self._others: dict[str, Embedder] = {}
        self._others_lock = threading.Lock()
        self._counting: tuple[float, Embedder] | None = None

    def in_use(self) -> str:
        """The space of the vectors the library holds (the configured one's when none
        is recorded yet)."""
        with self._db.session() as session:
            return recorded_space(session) or self.configured.space

    @property
    def changing(self) -> bool:
        """The library holds another model's vectors than the configured one's."""
        return self.in_use() != self.configured.space

    def current(self) -> Embedder:
        space = self.in_use()
        if space == self.configured.space:
            return self.configured
        with self._others_lock:
            if space not in self._others:
                log.info("the library's passages are embedded with %s: using it", space)
                self._others[space] = self.load_space(space)
            return self._others[space]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.current().embed(texts)

    def embed_one(self, text: str) -> np.ndarray:
        return self.current().embed_one(text)

    def _counter_model(self) -> Embedder:
        """Token counts are asked many times a file: the model is looked up once in
        a few seconds for them (a passage's size is a budget, not a vector)."""
        now = time.monotonic()
        if self._counting is None or now - self._counting[0] > _COUNTING_SECONDS:
            self._counting = (now, self.current())
        return self._counting[1]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._counter_model().count_tokens(texts)

    @property
    def max_tokens(self) -> int:
        return self._counter_model().max_tokens


@dataclass(frozen=True)
class ChangeProgress:
    """A change of embedding model under way: passages embedded again of all."""

    from_space: str
    to_space: str
    done: int
    total: int

    def line(self) -> str:
        share = self.done / self.total if self.total else 1.0
        return (
            f"embedding the library again with {self.to_space}: {self.done:,} of "
            f"{self.total:,} passages ({share:.0%}); search uses {self.from_space} until "
            "all are done"
        )


class EmbedderChange:
    """Moves the library's vectors to the configured model, a batch at a time."""

    def __init__(
        self,
        db: Database,
        embedder: LibraryEmbedder,
        batch: int = BATCH,
        staff_asking: Callable[[], bool] = lambda: False,
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.batch = batch
        self.staff_asking = staff_asking  # the watcher's steps wait while it says so
        self._lock = threading.Lock()  # one step at a time in this process

    def progress(self) -> ChangeProgress | None:
        """None unless a change is under way."""
        with self.db.session() as session:
            space = recorded_space(session)
            if space is None or space == self.embedder.configured.space:
                return None
            done, total = session.execute(
                sa.text("SELECT count(embedding_next), count(*) FROM chunks")
            ).one()
        return ChangeProgress(space, self.embedder.configured.space, done, total)

    def step(self, *, give_way: bool = True) -> bool:
        """Embed one batch of passages with the new model, or, when none is left,
        switch the library to it.  False when there is no change to work on, or
        (`give_way`) a person is being answered: staff questions come first."""
        if not self.embedder.changing or (give_way and self.staff_asking()):
            return False
        with self._lock:
            with self.db.session() as session:
                rows = session.execute(
                    sa.text(
                        "SELECT id, heading, section, text FROM chunks"
                        " WHERE embedding_next IS NULL ORDER BY id LIMIT :n"
                        " FOR UPDATE SKIP LOCKED"
                    ),
                    {"n": self.batch},
                ).all()
                if rows:
                    vectors = self.embedder.configured.embed(
                        [stored_passage_in_context(r.heading, r.section, r.text) for r in rows]
                    )
                    session.execute(
                        sa.text("UPDATE chunks SET embedding_next = :v WHERE id = :id").bindparams(
                            sa.bindparam("v", type_=Vector(EMBEDDING_DIM))
                        ),
                        [{"id": r.id, "v": v} for r, v in zip(rows, vectors, strict=True)],
                    )
                    session.commit()
                    return True
            self._switch()
            return True

    def _switch(self) -> None:
        """Every passage has its new vector: use them, all in one transaction."""
        target = self.embedder.configured.space
        with self.db.session() as session:
            # Waits for any transaction storing passages (they hold the record FOR
            # SHARE); later ones see the new model and embed their passages again.
            if recorded_space(session, lock="FOR UPDATE") == target:
                return
            session.execute(sa.text("LOCK TABLE chunks IN SHARE ROW EXCLUSIVE MODE"))
            left = session.execute(
                sa.text("SELECT count(*) FROM chunks WHERE embedding_next IS NULL")
            ).scalar()
            if left:  # stored since the last batch: the next steps take them
                return
            switched = session.scalar(sa.text("SELECT count(*) FROM chunks"))
            session.execute(
                sa.text("UPDATE chunks SET embedding = embedding_next, embedding_next = NULL")
            )
            # Similar past questions compare question vectors of one model.
            session.execute(
                sa.text("UPDATE query_log SET embedding = NULL WHERE embedding IS NOT NULL")
            )
            _record(session, target)
            session.commit()
        log.info("the library's %d passages are embedded with %s now", switched, target)

    def run(self, report: Callable[[ChangeProgress], None] | None = None) -> int:
        """Work until the change is done; the number of steps taken."""
        steps = 0
        while self.step(give_way=False):
            steps += 1
            if report is not None and steps % 10 == 1 and (now := self.progress()) is not None:
                report(now)
        return steps

"""A library moves to another embedding model: search keeps working on the vectors it
has, passages are embedded again a batch at a time, and one transaction switches every
process to the new ones.  Real database, the real MiniLM as the old model; a word-hashing
embedder stands in for the new one (EmbeddingGemma is 1.2 GB, fetched only when a site
names it)."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from ingest_watch.watcher import Watcher, _ModelChange, serve
from ingest_watch.worker import Worker
from rag_core.answers.chat import AnswerMode
from rag_core.answers.generation import Generator
from rag_core.db.models import EMBEDDING_DIM, Chunk
from rag_core.ingestion.ingest import Ingestor
from rag_core.ingestion.results import Outcome
from rag_core.search.embedding import Embedder, stored_passage_in_context
from rag_core.search.model_change import (
    ChangeProgress,
    EmbedderChange,
    EmbedderChanged,
    LibraryEmbedder,
    check_space,
    recorded_space,
)
from rag_core.search.retrieval import Mode
from rag_core.services import Services, build_embedder, build_services
from rag_core.settings import Settings

OLD = "all-minilm-l6-v2"
NEW = "test-words"

FILES = {
    "leave.txt": "Annual leave. Staff take up to twenty-five days of paid annual leave a year.",
    "parking.txt": "Parking. Visitors park in the north car park; staff use the basement.",
}


class WordsEmbedder(Embedder):
    """A second embedding model: every word hashed into one of the 384 components."""

    def __init__(self, space: str = NEW) -> None:
        super().__init__(Path("/nonexistent") / space, space=space)
        self.calls = 0

    def _vectors(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.sha256(word.encode()).hexdigest(), 16) % EMBEDDING_DIM] += 1
        norms = np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        result: np.ndarray = out / norms
        return result

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(text.split()) for text in texts]

    @property
    def max_tokens(self) -> int:
        return 256


def _drop(folder: Path, files: dict[str, str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        paths.append(folder / name)
    return paths


def _stored(services: Services) -> list[sa.Row[tuple[str, str, str, np.ndarray, object]]]:
    with services.db.session() as session:
        return list(
            session.execute(
                sa.select(
                    Chunk.heading, Chunk.section, Chunk.text, Chunk.embedding, Chunk.embedding_next
                ).order_by(Chunk.id)
            ).all()
        )


def _expected(
    embedder: Embedder, rows: Sequence[sa.Row[tuple[str, str, str, np.ndarray, object]]]
) -> np.ndarray:
    return embedder.embed([stored_passage_in_context(r[0], r[1], r[2]) for r in rows])


def _vectors(rows: Sequence[sa.Row[tuple[str, str, str, np.ndarray, object]]]) -> np.ndarray:
    return np.array([np.asarray(r[3], dtype=np.float32) for r in rows])


@pytest.fixture
def old_library(services: Services, tmp_path: Path) -> Services:
    """A library of two files embedded with MiniLM, one question in its history."""
    results = list(services.ingestor.ingest_paths(_drop(tmp_path / "drop", FILES)))
    assert [r.outcome for r in results] == [Outcome.INGESTED] * 2
    services.chat.ask("How many days of annual leave do staff get?", mode=AnswerMode.EXTRACTIVE)
    return services


@contextmanager
def _moved_to_new(services: Services, embedder: Embedder, new: Embedder) -> Iterator[Services]:
    """The same library opened by a process configured for the new model (the old one
    as loaded by the test session stands in for loading it again)."""
    built = build_services(services.settings, embedder=new, generator=services.generator)
    assert isinstance(built.embedder, LibraryEmbedder)
    built.embedder.load_space = lambda space: embedder
    try:
        yield built
    finally:
        built.close()


def test_the_library_moves_to_a_new_model_while_search_keeps_working(
    old_library: Services, settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    new = WordsEmbedder()
    with _moved_to_new(old_library, embedder, new) as moving:
        assert moving.embedder.changing
        assert moving.embedder.current() is embedder, "questions meet the vectors there are"
        hits = moving.retriever.search("paid annual leave days", top_k=1, mode=Mode.VECTOR)
        assert hits and hits[0].title.startswith("leave")
        progress = moving.model_change.progress()
        assert progress is not None
        assert (progress.from_space, progress.to_space, progress.done) == (OLD, NEW, 0)
        assert "search uses all-minilm-l6-v2 until all are done" in progress.line()

        # A file stored during the change gets the old model's vector, and a new one later.
        later = _drop(tmp_path / "drop", {"fire.txt": "Fire drill. The assembly point is gate B."})
        assert next(iter(moving.ingestor.ingest_paths(later))).outcome == Outcome.INGESTED
        rows = _stored(moving)
        # int8 activations are quantized per batch: the same model to a cosine of ~0.99.
        assert (np.sum(_vectors(rows) * _expected(embedder, rows), axis=1) > 0.97).all()
        assert all(r[4] is None for r in rows)

        moving.model_change.batch = 1  # one passage a step: the change takes several
        assert moving.model_change.step(give_way=False)
        partway = moving.model_change.progress()
        assert partway is not None and partway.done == 1 and partway.total == len(rows)
        reports: list[ChangeProgress] = []
        moving.model_change.run(reports.append)
        assert [r.done for r in reports] == [2], "said after its first step"

        with moving.db.session() as session:
            assert recorded_space(session) == NEW
            assert session.scalar(sa.text("SELECT count(embedding) FROM query_log")) == 0
        rows = _stored(moving)
        np.testing.assert_allclose(_vectors(rows), _expected(new, rows), atol=1e-6)
        assert all(r[4] is None for r in rows)
        assert moving.model_change.progress() is None
        assert not moving.model_change.step(give_way=False), "nothing left to do"

        # Every process follows the switch, even one still configured for the old model.
        assert moving.embedder.current() is new
        old_library.embedder.load_space = lambda space: new
        assert old_library.embedder.current() is new
        hits = moving.retriever.search("assembly point gate", top_k=1, mode=Mode.VECTOR)
        assert hits and hits[0].title.startswith("fire")


def test_a_file_embedded_with_the_old_model_after_the_switch_is_embedded_again(
    old_library: Services, settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    """The switch lands while a file is being embedded with the old model: its passages
    are refused by the database and embedded again with the new one."""
    new = WordsEmbedder()

    class SwitchedMeanwhile(Embedder):
        """The old model; while it embeds the file, another process ends the change."""

        def __init__(self) -> None:
            super().__init__(embedder.model_path, space=OLD)

        def _vectors(self, texts: Sequence[str], prompt: str) -> np.ndarray:
            vectors = embedder.embed(texts)
            moving.model_change.run()
            return vectors

        def count_tokens(self, texts: Sequence[str]) -> list[int]:
            return embedder.count_tokens(texts)

    with _moved_to_new(old_library, embedder, new) as moving:
        moving.embedder.load_space = lambda space: SwitchedMeanwhile()
        ingestor = Ingestor(moving.db, moving.embedder, moving.ingestor.options)
        late = _drop(tmp_path / "drop", {"fire.txt": "Fire drill. The assembly point is gate B."})
        assert ingestor.ingest_file(late[0]).outcome == Outcome.INGESTED
        with moving.db.session() as session:
            assert recorded_space(session) == NEW
        rows = _stored(moving)
        assert len(rows) == 3
        np.testing.assert_allclose(_vectors(rows), _expected(new, rows), atol=1e-6)


def test_passages_of_the_old_model_are_refused_once_the_library_moved(
    old_library: Services, settings: Settings, embedder: Embedder
) -> None:
    with _moved_to_new(old_library, embedder, WordsEmbedder()) as moving:
        moving.model_change.run()
        with moving.db.session() as session:
            check_space(session, NEW)
            with pytest.raises(EmbedderChanged, match="embedded with test-words now"):
                check_space(session, OLD)


def test_an_empty_library_takes_the_configured_model_at_once(
    settings: Settings, generator: Generator
) -> None:
    new = WordsEmbedder()
    built = build_services(settings, embedder=new, generator=generator)
    try:
        assert not built.embedder.changing
        assert built.embedder.current() is new
        assert built.model_change.progress() is None
        with built.db.session() as session:
            assert recorded_space(session) == NEW
    finally:
        built.close()


def test_the_watcher_says_once_when_the_new_model_is_missing_and_leaves_search_as_it_is(
    old_library: Services,
    settings: Settings,
    embedder: Embedder,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    missing = build_embedder(
        settings.model_copy(update={"embedding_model_path": tmp_path / "gone"})
    )
    with _moved_to_new(old_library, embedder, missing) as moving:
        watcher_side = _ModelChange(EmbedderChange(moving.db, moving.embedder))
        with caplog.at_level(logging.ERROR):
            assert not watcher_side.step()
            assert not watcher_side.step()
        said = [r.getMessage() for r in caplog.records if "stopped" in r.getMessage()]
        assert len(said) == 1 and "make models" in said[0]
        assert moving.embedder.current() is embedder
        hits = moving.retriever.search("paid annual leave days", top_k=1, mode=Mode.VECTOR)
        assert hits and hits[0].title.startswith("leave")


def test_the_watcher_gives_way_to_staff_questions(
    old_library: Services, settings: Settings, embedder: Embedder
) -> None:
    with _moved_to_new(old_library, embedder, WordsEmbedder()) as moving:
        asking = EmbedderChange(moving.db, moving.embedder, staff_asking=lambda: True)
        assert not asking.step(), "a person is being answered: no batch now"
        progress = asking.progress()
        assert progress is not None and progress.done == 0
        assert asking.step(give_way=False)


def test_a_library_made_before_models_were_recorded_counts_as_the_default_models(
    old_library: Services, embedder: Embedder
) -> None:
    """An upgrade that names a new model at once: the vectors there are MiniLM's (the
    only model before), so a change starts instead of reading them as the new one's."""
    with old_library.db.session() as session:
        session.execute(sa.text("DELETE FROM app_state WHERE key = 'embedding_model'"))
        session.commit()
    with _moved_to_new(old_library, embedder, WordsEmbedder()) as moving:
        assert moving.embedder.changing
        assert moving.embedder.current() is embedder
        with moving.db.session() as session:
            assert recorded_space(session) == OLD


def test_the_watcher_moves_the_library_when_no_file_waits(
    old_library: Services, embedder: Embedder, tmp_path: Path
) -> None:
    """`python -m ingest_watch`'s loop: files first, then the change, a batch at a time,
    until the library is on the new model; then it rests."""
    new = WordsEmbedder()
    with _moved_to_new(old_library, embedder, new) as moving:
        change = EmbedderChange(moving.db, moving.embedder, batch=1)
        drop = moving.settings.drop_dir
        watcher = Watcher(
            moving.queue, moving.catalog, drop, stable_seconds=0.5, rescan_seconds=2.0
        )
        stop = threading.Event()
        thread = threading.Thread(
            target=serve, args=(watcher, Worker(moving.queue, moving.ingestor), stop, 0.1, change)
        )
        thread.start()
        try:
            deadline = time.monotonic() + 120  # generous: a busy machine
            while time.monotonic() < deadline and moving.embedder.changing:
                time.sleep(0.2)
            assert not moving.embedder.changing, "the watcher finished the change"
            rows = _stored(moving)
            np.testing.assert_allclose(_vectors(rows), _expected(new, rows), atol=1e-6)
            calls = new.calls
            time.sleep(1.0)
            assert new.calls == calls, "nothing is embedded again once the change is done"
        finally:
            stop.set()
            thread.join(timeout=30)
    assert not thread.is_alive()

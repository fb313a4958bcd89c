"""Fixtures on the real components: one embedded PostgreSQL per test session, one fresh
database per test (cloned from a migrated template), and the real models, loaded once.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ingest_watch.watcher import Watcher, serve
from ingest_watch.worker import Worker
from rag_core.answers.generation import Generator
from rag_core.db import Job, JobStatus
from rag_core.db.engine import embedded_server_url, migrate
from rag_core.search.embedding import Embedder
from rag_core.services import Services, build_embedder, build_local_generator, build_services
from rag_core.settings import Settings

REPO = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO / "models_cache"
TEMPLATE_DB = "rag_template"
_counter = itertools.count()


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def template_url() -> str:
    """The embedded server for this test session, with a migrated template database.

    Its data lives outside pytest's temporary folders: pytest deletes all but its three
    newest session folders, which would pull the data from under a suite still running
    beside a newer one."""
    data_dir = Path(tempfile.mkdtemp(prefix="rag-test-pg-"))
    # Registered before the server starts, so (atexit runs last-in, first-out) the
    # folder is removed only after pgserver has stopped the server.
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    url = embedded_server_url(data_dir, TEMPLATE_DB)
    engine = sa.create_engine(url)
    migrate(engine)
    engine.dispose()
    return url


@pytest.fixture
def database_url(template_url: str) -> Iterator[str]:
    """A fresh, migrated database for one test, dropped afterwards."""
    name = f"test_{os.getpid()}_{next(_counter)}"
    admin = sa.create_engine(with_database(template_url, "postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"'))
    yield with_database(template_url, name)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        data_dir=tmp_path / "data",
        drop_dir=tmp_path / "drop",
        models_dir=MODELS_DIR,
        watch_stable_seconds=0.5,
        watch_poll_seconds=0.1,
        # A weak question would ask the answer model for words to search with: tests of
        # other things keep their searches model-free (test_expansion turns it on).
        expand_weak_questions=False,
    )


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    settings = Settings(_env_file=None, models_dir=MODELS_DIR)  # type: ignore[call-arg]
    return build_embedder(settings)


@pytest.fixture(scope="session")
def generator() -> Generator:
    # Greedy decoding: the same prompt gives the same answer on every run.
    settings = Settings(_env_file=None, models_dir=MODELS_DIR, llm_temperature=0.0)  # type: ignore[call-arg]
    return build_local_generator(settings)


@pytest.fixture
def services(settings: Settings, embedder: Embedder, generator: Generator) -> Iterator[Services]:
    built = build_services(settings, embedder=embedder, generator=generator)
    yield built
    built.close()


_MODEL_FIXTURES = {"embedder", "generator", "services", "live_watcher"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that load a real model are marked `models` (`make test-fast` skips them)."""
    for item in items:
        if _MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.models)


@dataclass
class LiveWatcher:
    """`python -m ingest_watch`'s loop, running in a thread of the test."""

    watcher: Watcher
    worker: Worker
    stop: threading.Event
    thread: threading.Thread

    def idle(self) -> bool:
        """Nothing waiting to settle, nothing queued or running."""
        if self.watcher.tracker.pending():
            return False
        with self.worker.queue.db.session() as session:
            busy = session.scalar(
                sa.select(sa.func.count(Job.id)).where(
                    Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])
                )
            )
        return busy == 0 and not self.watcher.tracker.pending()


@pytest.fixture
def live_watcher(services: Services) -> Iterator[LiveWatcher]:
    drop = services.settings.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    watcher = Watcher(
        services.queue, services.catalog, drop, stable_seconds=0.5, rescan_seconds=2.0
    )
    worker = Worker(services.queue, services.ingestor)
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(watcher, worker, stop, 0.1), daemon=True)
    thread.start()
    live = LiveWatcher(watcher, worker, stop, thread)
    yield live
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item, so a fixture can see whether the
    test failed (the browser fixture then saves a screenshot)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(autouse=True, scope="session")
def _no_generation_service_left_at_the_end() -> Iterator[None]:
    """An app's warm-up thread may still be starting a service when the last test
    ends (it was left running for its 30 idle minutes, 1.4 GB): wait for those threads,
    then stop what this process started."""
    yield
    for thread in threading.enumerate():
        if thread.name == "warm-up":
            thread.join(timeout=300)
    _stop_started()


def _stop_started() -> None:
    """Stop the generation services this process started on demand."""
    from rag_core.answers.client import STARTED

    while STARTED:
        process = STARTED.pop()
        process.terminate()
        process.wait(timeout=60)


@pytest.fixture(autouse=True)
def _no_generation_service_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """A generation service that a test's app, API or command started on demand (in the
    test's data folder) is stopped with the test, not left to its idle timeout."""
    tmp: Path | None = None
    if "tmp_path" in request.fixturenames:
        tmp = request.getfixturevalue("tmp_path")  # torn down after this fixture
    yield
    _stop_started()  # started by this process (an app or a command run in-process)
    for pid_file in tmp.rglob("generation.pid") if tmp else ():  # by its subprocesses
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)

"""Fixtures on the real components: one embedded PostgreSQL per test session, one fresh
database per test (cloned from a migrated template), and the real models, loaded once.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from rag_core.db.engine import embedded_server_url, migrate
from rag_core.embedding import Embedder
from rag_core.generation import Generator
from rag_core.services import Services, build_embedder, build_generator, build_services
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
    )


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    settings = Settings(_env_file=None, models_dir=MODELS_DIR)  # type: ignore[call-arg]
    return build_embedder(settings)


@pytest.fixture(scope="session")
def generator() -> Generator:
    # Greedy decoding: the same prompt gives the same answer on every run.
    settings = Settings(_env_file=None, models_dir=MODELS_DIR, llm_temperature=0.0)  # type: ignore[call-arg]
    return build_generator(settings)


@pytest.fixture
def services(settings: Settings, embedder: Embedder, generator: Generator) -> Iterator[Services]:
    built = build_services(settings, embedder=embedder, generator=generator)
    yield built
    built.close()


_MODEL_FIXTURES = {"embedder", "generator", "services"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that load a real model are marked `models` (`make test-fast` skips them)."""
    for item in items:
        if _MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.models)

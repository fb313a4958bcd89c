"""Schema, migrations and the embedded server."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import sqlalchemy as sa

from rag_core.db.engine import _create_database, embedded_server_url, migrate, prune_dead_pids
from tests.conftest import REPO, with_database


def test_migrations_create_vector_and_fulltext_indexes(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    migrate(engine)  # running again on a migrated database is a no-op
    with engine.connect() as conn:
        indexes = dict(
            conn.execute(
                sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'chunks'")
            ).all()
        )
        version = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
        extension = conn.scalar(
            sa.text("SELECT extversion FROM pg_extension WHERE extname='vector'")
        )
    engine.dispose()
    assert (
        "USING hnsw (((embedding)::halfvec(384)) halfvec_cosine_ops)"
        in indexes["ix_chunks_embedding_hnsw"]
    )
    assert "USING gin (tsv)" in indexes["ix_chunks_tsv"]
    assert version == "0016"
    assert extension is not None and extension.startswith("0.8")


def test_upgrade_from_0001_keeps_every_path(template_url: str, database_url: str) -> None:
    """A database made by the first release gets a files row per path on upgrade."""
    from alembic import command
    from alembic.config import Config

    from rag_core.db.engine import MIGRATIONS_DIR
    from tests.conftest import with_database

    name = "upgrade_check"
    admin = sa.create_engine(with_database(template_url, "postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = sa.create_engine(with_database(template_url, name))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(
            sa.text("""
            INSERT INTO documents (title, source_path, content_hash, status, version, is_active)
            VALUES ('a', '/d/a.pdf', 'h1', 'ready', 1, false),
                   ('a', '/d/a.pdf', 'h2', 'ready', 2, true),
                   ('b', '/d/b.pdf', 'h3', 'failed', 1, false)
        """)
        )
        conn.commit()
    migrate(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("""
            SELECT f.path, d.content_hash AS served, l.content_hash AS latest, f.present
            FROM files f LEFT JOIN documents d ON d.id = f.document_id
            JOIN documents l ON l.id = f.latest_document_id ORDER BY f.path
        """)
        ).all()
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()
    assert [tuple(r) for r in rows] == [
        ("/d/a.pdf", "h2", "h2", True),
        ("/d/b.pdf", None, "h3", True),
    ]


def test_dead_processes_are_pruned_from_the_server_pid_list(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    pid_file = tmp_path / ".handle_pids.json"
    pid_file.write_text(json.dumps([os.getpid(), dead.pid]))
    prune_dead_pids(pid_file)
    assert json.loads(pid_file.read_text()) == [os.getpid()]


def test_two_processes_share_one_embedded_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "shared"
    url = embedded_server_url(data_dir, "rag")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE note (body text)"))
        server_pid = conn.scalar(sa.text("SELECT pg_postmaster_start_time()"))
    writer = (
        "import pathlib, sqlalchemy as sa\n"
        "from rag_core.db.engine import embedded_server_url\n"
        f"url = embedded_server_url(pathlib.Path({str(data_dir)!r}), 'rag')\n"
        "e = sa.create_engine(url)\n"
        "with e.begin() as c:\n"
        "    c.execute(sa.text(\"INSERT INTO note VALUES ('from the other process')\"))\n"
        "    print(c.scalar(sa.text('SELECT pg_postmaster_start_time()')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", writer],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT body FROM note")) == "from the other process"
        # Still the same server: the other process attached to it and, on exit,
        # left it running for us.
        assert conn.scalar(sa.text("SELECT pg_postmaster_start_time()")) == server_pid
    assert str(server_pid)[:19] in result.stdout
    engine.dispose()


def test_processes_starting_together_create_the_database_once(template_url: str) -> None:
    """Eight starts at the same instant on a server without the database (the app, the
    watcher and CLI calls started together): all come up, one database is made."""
    admin = with_database(template_url, "postgres")
    name = f"together_{os.getpid()}"
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        try:
            _create_database(admin, name)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    for _ in range(3):
        threads = [threading.Thread(target=start) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            made = conn.scalar(
                sa.text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name}
            )
            conn.execute(sa.text(f'DROP DATABASE "{name}"'))
        engine.dispose()
        assert errors == [] and made == 1

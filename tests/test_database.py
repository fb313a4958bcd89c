"""Schema, migrations and the embedded server."""

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from rag_core.db.engine import embedded_server_url, migrate, prune_dead_pids
from tests.conftest import REPO


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
    assert "USING hnsw (embedding vector_cosine_ops)" in indexes["ix_chunks_embedding_hnsw"]
    assert "USING gin (tsv)" in indexes["ix_chunks_tsv"]
    assert version == "0001"
    assert extension is not None and extension.startswith("0.8")


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

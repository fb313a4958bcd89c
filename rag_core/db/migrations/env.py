"""Alembic environment.  Run through `rag_core.db.migrate.upgrade`, which hands over an
open connection in `config.attributes["connection"]`."""

from alembic import context

from rag_core.db.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()

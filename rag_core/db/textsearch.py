"""The full-text side of the chunks table: which language it is stemmed in, and titles
weighted above body text.

`chunks.tsv` is a generated column: the document title (`chunks.heading`, weight A),
the passage's section (`chunks.section`, the headings it falls under, weight B) and
the passage (weight D), all in one text-search configuration (a language such as
`english`, `german`, or `simple` for no stemming).  The configuration in use is kept in
`app_state`; when RAG_TEXT_SEARCH_CONFIG names another one, `use_text_search_config`
rebuilds the column once, at start-up.
"""

from __future__ import annotations

import logging
import re

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rag_core.errors import ConfigurationError

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "english"
_STATE_KEY = "text_search_config"


def tsv_expression(config: str) -> str:
    """SQL of the generated column for `config` (a name checked against pg_ts_config)."""
    literal = "'" + config.replace("'", "''") + "'::regconfig"
    return (
        f"setweight(to_tsvector({literal}, heading), 'A')"
        f" || setweight(to_tsvector({literal}, section), 'B')"
        f" || setweight(to_tsvector({literal}, text), 'D')"
    )


def searchable_title(title: str) -> str:
    """A title as words: file names such as `acme_msa-2026.pdf` are one token to the
    text-search parser, and nobody searches for that token."""
    return re.sub(r"[\W_]+", " ", title).strip()


def use_text_search_config(conn: Connection, config: str) -> None:
    """Make the stored full-text column use `config`, rebuilding it if it used another.
    Runs in the caller's transaction (under the migration lock)."""
    available = conn.scalars(sa.text("SELECT cfgname FROM pg_ts_config ORDER BY 1")).all()
    if config not in available:
        raise ConfigurationError(
            f"RAG_TEXT_SEARCH_CONFIG={config!r} is not a text-search language of this "
            f"database. Choose one of: {', '.join(available)}."
        )
    current = conn.scalar(
        sa.text("SELECT value FROM app_state WHERE key = :key FOR UPDATE"), {"key": _STATE_KEY}
    )
    if current == config:
        return
    passages = conn.scalar(sa.text("SELECT count(*) FROM chunks"))
    log.info(
        "full-text search: switching from %s to %s; re-indexing %d passages",
        current,
        config,
        passages,
    )
    conn.execute(
        sa.text(f"ALTER TABLE chunks ALTER COLUMN tsv SET EXPRESSION AS ({tsv_expression(config)})")
    )
    # Rewriting the column fires no trigger: BM25's term statistics are counted again.
    conn.execute(sa.text("SELECT term_stats_rebuild()"))
    conn.execute(
        sa.text(
            "INSERT INTO app_state (key, value) VALUES (:key, :value)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        ),
        {"key": _STATE_KEY, "value": config},
    )

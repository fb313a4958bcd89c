"""Term statistics for BM25: in how many searchable passages each lexeme occurs, and
how many passages there are with how many lexemes in all.

Kept current by triggers, in the transaction that changes what is searchable: passages
written or deleted for an active document, a document becoming active (ready and held
by a present file) or retired, a passage's title words changing.  Every change takes
one transaction-level advisory lock first, so two ingest workers adding passages never
lock the same lexemes in opposite orders.  `term_stats_rebuild()` counts everything
again (after the text-search language changes, which rewrites every `tsv`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_LOCK = 7_240_017  # pg_advisory_xact_lock key of statistics changes

_FUNCTIONS = f"""
CREATE FUNCTION term_stats_change(vectors tsvector[], sign integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(cardinality(vectors), 0) = 0 THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock({_LOCK});
    INSERT INTO term_stats AS s (lexeme, passages)
    SELECT u.lexeme, sign * count(*)
    FROM unnest(vectors) AS v(tsv) CROSS JOIN LATERAL unnest(v.tsv) AS u
    GROUP BY u.lexeme
    ORDER BY u.lexeme
    ON CONFLICT (lexeme) DO UPDATE SET passages = s.passages + excluded.passages;
    UPDATE passage_stats
    SET passages = passages + sign * cardinality(vectors),
        lexemes = lexemes + sign * (SELECT coalesce(sum(length(t)), 0) FROM unnest(vectors) t)
    WHERE id = 1;
END $$;

CREATE FUNCTION term_stats_rebuild() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({_LOCK});
    DELETE FROM term_stats;
    INSERT INTO term_stats (lexeme, passages)
    SELECT u.lexeme, count(*)
    FROM chunks c JOIN documents d ON d.id = c.document_id
    CROSS JOIN LATERAL unnest(c.tsv) AS u
    WHERE d.is_active
    GROUP BY u.lexeme;
    UPDATE passage_stats SET (passages, lexemes) = (
        SELECT count(*), coalesce(sum(length(c.tsv)), 0)
        FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.is_active
    ) WHERE id = 1;
END $$;

CREATE FUNCTION term_stats_chunks_added() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM term_stats_change(ARRAY(
        SELECT a.tsv FROM added a JOIN documents d ON d.id = a.document_id WHERE d.is_active
    ), 1);
    RETURN NULL;
END $$;

CREATE FUNCTION term_stats_chunks_removed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A document deleted with its passages was subtracted before it went (below):
    -- it no longer joins here.
    PERFORM term_stats_change(ARRAY(
        SELECT r.tsv FROM removed r JOIN documents d ON d.id = r.document_id WHERE d.is_active
    ), -1);
    RETURN NULL;
END $$;

CREATE FUNCTION term_stats_chunks_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM term_stats_change(ARRAY(
        SELECT b.tsv FROM before_rows b JOIN after_rows a ON a.id = b.id
        JOIN documents d ON d.id = b.document_id
        WHERE d.is_active AND a.tsv IS DISTINCT FROM b.tsv
    ), -1);
    PERFORM term_stats_change(ARRAY(
        SELECT a.tsv FROM before_rows b JOIN after_rows a ON a.id = b.id
        JOIN documents d ON d.id = a.document_id
        WHERE d.is_active AND a.tsv IS DISTINCT FROM b.tsv
    ), 1);
    RETURN NULL;
END $$;

CREATE FUNCTION term_stats_document_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.is_active THEN
            PERFORM term_stats_change(
                ARRAY(SELECT c.tsv FROM chunks c WHERE c.document_id = OLD.id), -1);
        END IF;
        RETURN OLD;
    END IF;
    IF NEW.is_active IS DISTINCT FROM (TG_OP = 'UPDATE' AND OLD.is_active) THEN
        PERFORM term_stats_change(
            ARRAY(SELECT c.tsv FROM chunks c WHERE c.document_id = NEW.id),
            CASE WHEN NEW.is_active THEN 1 ELSE -1 END);
    END IF;
    RETURN NULL;
END $$;
"""

_TRIGGERS = """
CREATE TRIGGER term_stats_chunks_added AFTER INSERT ON chunks
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT
    EXECUTE FUNCTION term_stats_chunks_added();
CREATE TRIGGER term_stats_chunks_removed AFTER DELETE ON chunks
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT
    EXECUTE FUNCTION term_stats_chunks_removed();
CREATE TRIGGER term_stats_chunks_changed AFTER UPDATE ON chunks
    REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows FOR EACH STATEMENT
    EXECUTE FUNCTION term_stats_chunks_changed();
CREATE TRIGGER term_stats_document_activated AFTER INSERT OR UPDATE OF is_active ON documents
    FOR EACH ROW EXECUTE FUNCTION term_stats_document_changed();
-- Before the row goes: its passages are still there to be subtracted.
CREATE TRIGGER term_stats_document_deleted BEFORE DELETE ON documents
    FOR EACH ROW EXECUTE FUNCTION term_stats_document_changed();
"""


def upgrade() -> None:
    op.execute("""
        CREATE TABLE term_stats (
            lexeme text PRIMARY KEY,
            passages integer NOT NULL
        )
    """)
    op.execute("""
        CREATE TABLE passage_stats (
            id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
            passages bigint NOT NULL DEFAULT 0,
            lexemes bigint NOT NULL DEFAULT 0
        )
    """)
    op.execute("INSERT INTO passage_stats (id) VALUES (1)")
    op.execute(_FUNCTIONS)
    op.execute(_TRIGGERS)
    op.execute("SELECT term_stats_rebuild()")


def downgrade() -> None:
    op.execute("DROP TRIGGER term_stats_document_deleted ON documents")
    op.execute("DROP TRIGGER term_stats_document_activated ON documents")
    for name in ("added", "removed", "changed"):
        op.execute(f"DROP TRIGGER term_stats_chunks_{name} ON chunks")
    for name in (
        "term_stats_document_changed()",
        "term_stats_chunks_changed()",
        "term_stats_chunks_removed()",
        "term_stats_chunks_added()",
        "term_stats_rebuild()",
        "term_stats_change(tsvector[], integer)",
    ):
        op.execute(f"DROP FUNCTION {name}")
    op.execute("DROP TABLE passage_stats")
    op.execute("DROP TABLE term_stats")

"""The full-text side of a search: the passages that share words with the question,
ranked, as the SQL of one CTE (`text_hits`: id, score, rank) of the retrieval statement.

Two rankings:
- `bm25` (the default): Okapi BM25 on the statistics the database keeps current
  (`term_stats`: in how many searchable passages each lexeme occurs; `passage_stats`:
  how many passages, how many lexemes in all; see migration 0007).  A passage scores,
  summed over the question's lexemes it has,
  idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / average length)),
  its length being its number of distinct lexemes (title and section included).
  In two steps, because reading how often a lexeme occurs means unpacking the
  passage: each of the question's rarer lexemes (in at most `bm25_common` of the
  passages, and the three rarest in any case) is one GIN lookup, and every passage
  found is scored as if each lexeme occurred once (cheap: no unpacking); the best
  `bm25_pool` of those are scored again with every lexeme of the question and its
  real count.  A word in half the passages ("financial" in a library of annual
  reports) adds little to a score and would cost more than the rest of the query to
  look up: 150 of 190 ms for a 40-word question over 29,000 passages (measured).
- `ts_rank`: PostgreSQL's own cover-density-free rank over any word of the question,
  the appliance's ranking before BM25, kept for comparison.

Lexemes are what the stored column's text-search language makes of the text, so the
question is parsed the same way as the passages: `10-K` stays `10-k` (besides `10` and
`k`), `2.5` stays a number, `\\newgeometry` is the word `newgeometri`.
"""

from __future__ import annotations

from enum import StrEnum


class TextRanking(StrEnum):
    BM25 = "bm25"
    TS_RANK = "ts_rank"


# A lexeme as a tsquery of that lexeme alone: quoted, so that no character of it
# (`:`, `&`, `'`) is read as tsquery syntax, and not normalised again.
_LEXEME_QUERY = (
    r"""('''' || replace(replace(q.lexeme, '\', '\\'), '''', '''''') || '''')::tsquery"""
)

_BM25_CTE = f"""
bm25_terms AS MATERIALIZED (
    SELECT q.lexeme, {_LEXEME_QUERY} AS query,
           ln(1 + (p.passages - s.passages + 0.5) / (s.passages + 0.5)) AS idf,
           p.lexemes::float8 / greatest(p.passages, 1) AS average_length,
           -- finds the pool: the rarer lexemes, and the three rarest whatever they are
           s.passages <= :bm25_common * p.passages
               OR row_number() OVER (ORDER BY s.passages, q.lexeme) <= 3 AS finds
    FROM unnest(tsvector_to_array(to_tsvector(CAST(:ts_config AS regconfig), :qtext)))
        AS q(lexeme)
    JOIN term_stats s ON s.lexeme = q.lexeme AND s.passages > 0
    CROSS JOIN passage_stats p
),
bm25_pool AS MATERIALIZED (
    SELECT m.id,
           sum(t.idf * (:bm25_k1 + 1)
               / (1 + :bm25_k1 * (1 - :bm25_b + :bm25_b * m.length / t.average_length)))
               AS score
    FROM (SELECT * FROM bm25_terms WHERE finds) t
    CROSS JOIN LATERAL (
        SELECT c.id, length(c.tsv) AS length
        FROM chunks c JOIN documents d ON d.id = c.document_id
        WHERE c.tsv @@ t.query AND d.is_active AND d.status = 'ready' {{filters}}
        OFFSET 0  -- kept apart, so each lexeme is one lookup in the GIN index
    ) m
    GROUP BY m.id
    ORDER BY score DESC, m.id
    LIMIT :bm25_pool
),
text_hits AS (
    SELECT s.id, s.score, row_number() OVER (ORDER BY s.score DESC, s.id) AS rank
    FROM (
        SELECT p.id,
               sum(t.idf * f.tf * (:bm25_k1 + 1)
                   / (f.tf + :bm25_k1
                      * (1 - :bm25_b + :bm25_b * length(c.tsv) / t.average_length)))
                   AS score
        FROM bm25_pool p
        JOIN chunks c ON c.id = p.id
        CROSS JOIN LATERAL (
            SELECT u.lexeme, coalesce(array_length(u.positions, 1), 1) AS tf FROM unnest(c.tsv) u
        ) f
        JOIN bm25_terms t ON t.lexeme = f.lexeme
        GROUP BY p.id
        ORDER BY score DESC, p.id
        LIMIT :candidates
    ) s
)"""

# Ranked by how many of the question's words a passage has and how often (any word
# may match: requiring all of them, as websearch_to_tsquery does, finds almost nothing
# for a question in a whole sentence; measured on SciFact, nDCG@10 0.04).
_TS_RANK_CTE = """
text_hits AS (
    SELECT c.id, ts_rank(q.weights, c.tsv, q.query, 1) AS score,
           row_number() OVER (ORDER BY ts_rank(q.weights, c.tsv, q.query, 1) DESC) AS rank
    FROM chunks c
    JOIN documents d ON d.id = c.document_id
    CROSS JOIN (
        SELECT replace(
            plainto_tsquery(CAST(:ts_config AS regconfig), :qtext)::text, ' & ', ' | '
        )::tsquery,
        -- weights of D (body), C, B, A (title); ts_rank takes none above 1
        ARRAY[:body_weight, :body_weight, :body_weight, 1.0]::float4[]
    ) AS q(query, weights)
    WHERE c.tsv @@ q.query AND d.is_active AND d.status = 'ready' {filters}
    ORDER BY ts_rank(q.weights, c.tsv, q.query, 1) DESC
    LIMIT :candidates
)"""

EMPTY_CTE = (
    "text_hits AS (SELECT NULL::bigint AS id, NULL::float8 AS score, NULL::bigint AS rank"
    " WHERE false)"
)


def text_cte(ranking: TextRanking, filters: str) -> str:
    """The `text_hits` CTE (and what it needs) for `ranking`; `filters` is SQL over
    `d` (documents) ANDed into the candidates' condition."""
    template = _BM25_CTE if ranking == TextRanking.BM25 else _TS_RANK_CTE
    return template.format(filters=filters)

"""Every knob in one typed object, read from the environment and `.env`.

No other module reads `os.environ`; the composition root (`rag_core.services`) builds a
`Settings` once and hands the values on.  Every field is documented in `.env.example`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag_core.modelfiles.catalog import (
    ANSWER_MODELS,
    DEFAULT_ANSWER_MODEL,
    DEFAULT_EMBEDDING_MODEL,
    EMBEDDING_MODELS,
)


class Settings(BaseSettings):
    """Settings of the appliance; environment variables use the `RAG_` prefix."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- storage -------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "RAG_DATABASE_URL"),
        description="PostgreSQL (with pgvector) URL. Empty: start the embedded server "
        "in RAG_DATA_DIR.",
    )
    data_dir: Path = Field(
        default=Path("data"),
        description="Folder of the embedded PostgreSQL server and other state. Keep it "
        "outside /root: as root the embedded server opens permissions on its parents.",
    )
    database_name: str = Field(
        default="rag",
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="Database created on the embedded server.",
    )
    drop_dir: Path = Field(default=Path("drop"), description="Folder watched for new documents.")

    # --- models --------------------------------------------------------------------
    models_dir: Path = Field(
        default=Path("models_cache"), description="Folder the model files live in."
    )
    embedding_model: Literal["all-minilm-l6-v2", "embeddinggemma-300m"] = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        description="The embedding model, by name: all-minilm-l6-v2 (the default: 90 MB, "
        "about 180 passages a second on 2 cores) or embeddinggemma-300m (1.2 GB to fetch, "
        "finds more pages asked in other words, about 7 times slower to ingest; Gemma "
        "Terms of Use). `make models` fetches and checks the one named. A library's "
        "passages must be embedded again when it changes (`python -m rag_core reembed`). "
        "RAG_EMBEDDING_MODEL_PATH overrides it.",
    )
    embedding_model_path: Path | None = Field(
        default=None,
        description="sentence-transformers model folder. Default: the folder of "
        "RAG_EMBEDDING_MODEL in <models_dir>.",
    )
    embedding_backend: Literal["onnx-int8", "torch"] = Field(
        default="onnx-int8",
        description="onnx-int8: the embedding model exported to int8 ONNX (by `python -m "
        "rag_core models`, or on first use) and run by ONNX Runtime, about twice as fast "
        "on a CPU; torch: sentence-transformers as it is.",
    )
    embedding_batch_size: int = Field(
        default=8,
        ge=1,
        description="Chunks embedded per batch. 8 suits the int8 ONNX backend on 2 cores "
        "(real filings ingested 9 % faster than at 16, 65 MB less memory); torch did best "
        "at 16.",
    )
    reranker_model_path: Path | None = Field(
        default=None,
        description="Cross-encoder folder (sentence-transformers) that re-orders the "
        "fused passages. Empty: no re-ranking.",
    )
    rerank_candidates: int = Field(
        default=20, ge=1, description="Fused passages the re-ranking model re-orders."
    )
    answer_model: Literal["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m"] = Field(
        default=DEFAULT_ANSWER_MODEL,
        description="The answer model, by name: qwen2.5-coder-1.5b (1.1 GB, the default: "
        "writes answers that verify), qwen2.5-coder-0.5b (0.5 GB, for low memory), "
        "smollm2-135m (0.1 GB, for tiny machines: its sentences rarely verify). `make "
        "models` fetches and checks the one named. RAG_LLM_MODEL_PATH overrides it.",
    )
    llm_model_path: Path | None = Field(
        default=None,
        description="A GGUF answer model of the site's own (any instruction-tuned GGUF "
        "with a chat template). Default: the file of RAG_ANSWER_MODEL in <models_dir>.",
    )
    llm_prompt_format: Literal["auto", "completion"] = Field(
        default="auto",
        description="auto: the GGUF's own chat template when it has one, else a plain "
        "completion prompt; completion: always the plain prompt (for a GGUF whose "
        "template is missing or broken).",
    )
    llm_context_tokens: int = Field(
        default=4096, ge=512, description="Context window given to llama.cpp."
    )
    llm_max_answer_tokens: int = Field(
        default=160,
        ge=16,
        description="Longest answer the model may write, in tokens (it writes one or two "
        "sentences from the evidence; a loop detector ends it sooner if it repeats).",
    )
    llm_repeat_penalty: float = Field(
        default=1.15, ge=1.0, le=2.0, description="llama.cpp's penalty on repeated tokens."
    )
    llm_temperature: float = Field(
        default=0.0,
        ge=0.0,
        le=2.0,
        description="Sampling temperature of answers. 0: always the most likely words, "
        "so the same question over the same library gets the same answer and two "
        "quality checks differ by their settings, not by chance. At 0.1, 16 of 100 "
        "answers on SQuAD 2.0 dev changed between runs; at 0 none did (15 of 15 asked "
        "twice), and the written part held the gold answer as often (half a 69.8 % at both, "
        "half b 64.9 % against 61.9 %).",
    )
    llm_threads: int | None = Field(
        default=None,
        ge=1,
        description="Most CPU threads llama.cpp uses. Default: all cores; each answer "
        "uses the cores other processes leave free (a thread waiting for a busy core "
        "slows every token: 2 threads beside one busy process wrote 2.4 tokens/s, 1 "
        "thread 19).",
    )
    llm_prompt_lookup: bool = Field(
        default=False,
        description="Prompt-lookup decoding: the model proposes the next words from the "
        "evidence it copies and checks them in one step. Off: on 2 AVX2 cores it made "
        "answers slower (bench answer: complete p50 3.8 s against 3.0 s, slowest 7.0 s "
        "against 3.6 s).",
    )
    generation: Literal["service", "local"] = Field(
        default="service",
        description="service: one generation service holds the answer model for the app, "
        "the API and the command line (`python -m rag_core.answers.service`, started by "
        "`make run`, or on the first question); local: each process loads its own copy.",
    )
    generation_idle_minutes: float = Field(
        default=30.0,
        gt=0,
        description="A generation service started on demand by a question ends after "
        "this many minutes without one (the one `make run` starts runs until stopped).",
    )

    # --- answers -------------------------------------------------------------------
    answer_mode: Literal["auto", "extractive", "generative"] = Field(
        default="auto",
        description="extractive: the answer quotes the evidence sentences, no model call; "
        "generative: the model writes from the evidence and only its verified sentences "
        "are shown (the evidence when none verify); auto: the evidence at once, then the "
        "model's verified sentences (the default). Choose extractive with the 135M model "
        "(README, Answers: its sentences add no answer the quotes lack).",
    )
    rewrite_follow_ups: bool = Field(
        default=False,
        description='A follow-up ("and for children?") is rewritten by the answer '
        "model into a stand-alone question before searching; a rewrite with a word "
        "from neither question falls back to joining it to the earlier question. Off "
        "by default: on 18 follow-up pairs (`eval followups`) it found the gold answer "
        "as often as the rule (78 %) and cost 1.4 s.",
    )
    expand_weak_questions: bool = Field(
        default=True,
        description="When the first passage found is far from a question "
        "(RAG_WEAK_SIMILARITY), the answer model answers it briefly in the documents' own "
        "terms and those words are "
        "searched for beside the question: staff say 'sideways', the manual 'landscape'. "
        "About 2.5 s, for weak questions only; relevance and abstention are still judged on "
        "the question alone. Needs an answer model (not in extractive mode).",
    )
    evidence_sentences: int = Field(
        default=3, ge=1, le=6, description="Evidence sentences quoted per answer at most."
    )
    evidence_floor: float = Field(
        default=0.3,
        description="Evidence score (0.5 x cosine + 0.6 x weighted share of the "
        "question's words) the best sentence must reach, else the answer abstains. 0.3 "
        "keeps false abstention on SQuAD 2.0 dev within 5 %.",
    )
    refusal_abstains_at: float = Field(
        default=0.8,
        ge=0.0,
        le=1.01,
        description="Before it writes, the answer model is asked how likely it is to "
        "say the evidence does not answer the question (the probability of its "
        "answer's first token): at or above this the answer abstains, with the nearest "
        "quotes; below it the model must answer, and only its verified sentences are "
        "shown. 1.01: the model never abstains. 0.8: on SQuAD 2.0 dev 0.5 raised "
        "abstention on unanswerable questions from 12 to 23-24 % at a false abstention "
        "of 4-5 % (3 % without), but on FinanceBench it abstained on 63 % of answerable "
        "questions against 33 %; at 0.8 it costs FinanceBench nothing (13-14 % on "
        "SQuAD's unanswerable, 3 % false).",
    )
    model_sentences: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Evidence sentences the answer model reads: the quoted ones, then "
        "the next best within 900 characters. 5 put the gold answer in the model's "
        "evidence more often on SQuAD 2.0 dev (92/86 % against 81/82 %, halves a/b) but "
        "not in its verified sentences on half b (62 % against 64 %), and its longer "
        "prompt is slower to read.",
    )
    abstain_on_missing_terms: bool = Field(
        default=True,
        description="Abstain when a name, figure or code-like term of the question is in "
        "none of the passages found.",
    )

    # --- chunking --------------------------------------------------------------------
    chunk_tokens: int = Field(
        default=128,
        ge=16,
        le=254,
        description="Largest chunk, in tokens of the embedding model (its limit is 256; "
        "the title and section embedded with each chunk take up to 40 more).",
    )
    chunk_overlap_tokens: int = Field(
        default=24, ge=0, description="Tokens repeated between neighbouring chunks."
    )

    # --- retrieval -------------------------------------------------------------------
    top_k: int = Field(default=5, ge=1, le=50, description="Passages retrieved per question.")
    context_neighbours: int = Field(
        default=1,
        ge=0,
        le=3,
        description="Neighbouring chunks quoted with each hit on either side, so the "
        "model reads a passage in its context (0: the hits alone).",
    )
    candidates: int = Field(
        default=40, ge=1, description="Candidates taken from each retriever before fusion."
    )
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal rank fusion constant.")
    rrf_vector_weight: float = Field(
        default=1.0, ge=0.0, description="Weight of the vector ranking in the fusion."
    )
    rrf_text_weight: float = Field(
        default=1.0, ge=0.0, description="Weight of the full-text ranking in the fusion."
    )
    statement_weight: float = Field(
        default=1.0,
        ge=0.0,
        description="A passage on the page of a financial statement the question asks "
        "about (names it, or asks for a figure read from it; with a column for the year "
        "it names, if any) counts as if it had ranked first in this many more lists of "
        "the fusion (0: off).",
    )
    full_text_words: int = Field(
        default=6,
        ge=0,
        description="Question length (words that count, after stopwords) up to which the "
        "full-text ranking has its whole weight in the fusion; a longer question's counts "
        "less in proportion (12 words: half). 0: always whole.",
    )
    query_cache_size: int = Field(
        default=1024, ge=0, description="Question embeddings kept in memory (0: none)."
    )
    title_weight: float = Field(
        default=1.0,
        ge=1.0,
        description="How many body words a word of the document title counts for in "
        "full-text ranking (ts_rank only).",
    )
    text_ranking: Literal["bm25", "ts_rank"] = Field(
        default="bm25",
        description="Full-text ranking: bm25 (Okapi BM25 on term statistics kept in the "
        "database) or ts_rank (PostgreSQL's rank over any word of the question).",
    )
    bm25_k1: float = Field(
        default=1.2, ge=0.0, description="BM25 k1: how far a passage's length discounts it."
    )
    bm25_b: float = Field(
        default=0.75, ge=0.0, le=1.0, description="BM25 b: length normalisation, 0 to 1."
    )
    near_copies_allowed: int = Field(
        default=2,
        ge=0,
        description="Near-identical passages (70 % of their words shared) that may rank "
        "above a further copy; later copies move down behind other passages (0: off).",
    )
    text_search_config: str = Field(
        default="english",
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="Language of full-text search (a PostgreSQL text-search "
        "configuration: english, german, french, ..., or simple for no stemming). "
        "Changing it re-indexes the passages once, at the next start.",
    )
    similar_question_floor: float = Field(
        default=0.75,
        ge=-1.0,
        le=1.0,
        description="Cosine similarity from which a past question counts as similar to a new one.",
    )
    weak_similarity: float | None = Field(
        default=None,
        ge=-1.0,
        le=1.0,
        description="Cosine similarity below which a question's best passage counts as a "
        "weak match, one RAG_EXPAND_WEAK_QUESTIONS searches again with the model's words. "
        "Default: the embedding model's own (all-minilm-l6-v2 0.40, embeddinggemma-300m "
        "0.48; 0.40 for a folder of the site's own).",
    )
    relevance_floor: float = Field(
        default=0.35,
        description="Cosine similarity below which a passage counts as unrelated; when "
        "no passage reaches it (and none matches every query word), the answer abstains.",
    )
    hnsw_ef_search: int = Field(
        default=300,
        ge=1,
        description="HNSW search breadth (pgvector hnsw.ef_search). 300 keeps recall@10 at "
        "0.96 or more up to a million passages (bench retrieve); 80 is enough below 100k.",
    )
    vector_index: Literal["halfvec", "vector"] = Field(
        default="halfvec",
        description="What the HNSW index is built on: halfvec (the vectors at half "
        "precision: about half the size, as fast or faster, same recall as measured by "
        "`python -m rag_core.bench retrieve`) or vector (full precision). Stored vectors "
        "keep full precision either way. Changing it (or the two below) rebuilds the index "
        "once, at the next start.",
    )
    hnsw_m: int = Field(default=16, ge=2, le=100, description="HNSW links per node (pgvector's m).")
    hnsw_ef_construction: int = Field(
        default=64, ge=4, le=1000, description="HNSW build breadth (pgvector's ef_construction)."
    )
    index_build_memory_mb: int = Field(
        default=2048,
        ge=64,
        description="Memory PostgreSQL may use to build the vector index (its "
        "maintenance_work_mem, for that build only). A graph that does not fit builds "
        "several times slower; 2 GB holds a million passages at halfvec.",
    )

    # --- limits ----------------------------------------------------------------------
    question_max_chars: int = Field(
        default=2000, ge=1, description="Longest question accepted, in characters."
    )
    max_file_mb: float = Field(
        default=100.0, gt=0, description="Files larger than this (MB) are refused."
    )
    max_pages: int = Field(default=2000, ge=1, description="PDFs with more pages are refused.")
    max_chars: int = Field(
        default=10_000_000, ge=1, description="Files with more characters of text are refused."
    )
    extract_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="CPU time reading one file (in a separate process) may use; the wall "
        "clock stops it at 5 times this, and then it is tried again later (a busy machine).",
    )
    extract_memory_mb: int = Field(
        default=2048, ge=64, description="Memory the process reading one file may use."
    )
    ocr: bool = Field(
        default=True,
        description="Recognise the text of PDF pages that have none (scans) with Tesseract "
        "(`make run` installs it). Off: such pages stay empty, a scan fails.",
    )
    ocr_languages: str = Field(
        default="eng",
        pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$",
        description="Tesseract languages for scanned pages, joined by +: eng+deu (install "
        "tesseract-ocr-deu for German).",
    )
    ocr_page_seconds: float = Field(
        default=60.0,
        gt=0,
        description="CPU time recognising one scanned page may use before it is given up.",
    )
    ocr_workers: int = Field(
        default=2,
        ge=1,
        le=32,
        description="Scanned pages read at once: a Tesseract process each, using a core each.",
    )

    # --- job queue -------------------------------------------------------------------
    job_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a worker's claim on a job lasts unless renewed (it renews "
        "every third of it); the job of a worker that died is taken over after this.",
    )
    job_max_attempts: int = Field(
        default=5, ge=1, description="Unexpected failures of a job before it is given up."
    )

    # --- watcher ---------------------------------------------------------------------
    watch_stable_seconds: float = Field(
        default=2.0,
        ge=0.0,
        description="A dropped file is read once its size and mtime have not changed "
        "for this long.",
    )
    watch_poll_seconds: float = Field(
        default=0.5, gt=0, description="How often the watcher checks pending files and jobs."
    )
    watch_rescan_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often the whole drop folder is compared with the database, to "
        "catch what file events missed.",
    )
    disk_full_retry_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A file that failed because the database's disk was full is tried "
        "again this often until it fits.",
    )
    ingest_workers: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Worker processes the watcher runs (itself and helpers): one reads "
        "the next file while another embeds, 11 % faster on 2 cores (bench workers).",
    )
    log_level: str = Field(default="INFO", description="Logging level of the processes.")
    log_content: bool = Field(
        default=False,
        description="Write questions and SQL parameters (which hold document text) to the "
        "log, for debugging. Off: the log names files and counts, never what they say.",
    )

    # --- security --------------------------------------------------------------------
    server_address: str = Field(
        default="127.0.0.1",
        description="Address the app serves on (`make run`). Anything but a loopback "
        "address lets other machines connect, and is refused while RAG_AUTH_ENABLED is "
        "false; for other machines prefer 127.0.0.1 behind a TLS reverse proxy.",
    )
    api_address: str = Field(
        default="127.0.0.1",
        description="Address the HTTP API (`python -m rag_core.api`) serves on; the same "
        "rule as the app's address applies.",
    )
    api_port: int = Field(default=8502, ge=1, le=65535, description="Port of the HTTP API.")
    auth_enabled: bool = Field(
        default=True,
        description="Require staff to sign in (accounts: `python -m rag_core users`). "
        "Off is allowed only while the app serves on this machine alone (127.0.0.1).",
    )
    session_idle_minutes: float = Field(
        default=30.0, gt=0, description="A signed-in session unused this long must sign in again."
    )
    session_max_hours: float = Field(
        default=12.0, gt=0, description="A session ends this long after signing in, used or not."
    )
    min_password_length: int = Field(
        default=10, ge=8, description="Shortest password an account may be given."
    )
    login_lockout_failures: int = Field(
        default=5,
        ge=1,
        description="Failed sign-ins for one name, within the lockout window, after which "
        "that name is refused until the window passes.",
    )
    login_lockout_minutes: float = Field(
        default=15.0, gt=0, description="The sign-in lockout window, in minutes."
    )
    questions_per_minute: int = Field(
        default=20, ge=0, description="Questions one person may ask per minute (0: no limit)."
    )

    @field_validator(
        "database_url",
        "embedding_model_path",
        "llm_model_path",
        "reranker_model_path",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `KEY=` in .env means "use the default", as .env.example shows.
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        # Absolute paths, so the app and the watcher agree on the same folders.
        self.data_dir = self.data_dir.expanduser().resolve()
        self.drop_dir = self.drop_dir.expanduser().resolve()
        self.models_dir = self.models_dir.expanduser().resolve()
        if self.embedding_model_path is None:
            self.embedding_model_path = (
                self.models_dir / EMBEDDING_MODELS[self.embedding_model].folder
            )
        if self.llm_model_path is None:
            self.llm_model_path = self.models_dir / ANSWER_MODELS[self.answer_model].file
        self.embedding_model_path = self.embedding_model_path.expanduser().resolve()
        self.llm_model_path = self.llm_model_path.expanduser().resolve()
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError("RAG_CHUNK_OVERLAP_TOKENS must be smaller than RAG_CHUNK_TOKENS")
        return self

    @property
    def attachments_dir(self) -> Path:
        """Where e-mails' attachments are kept as files of their own."""
        return self.data_dir / "attachments"

    @property
    def generation_socket(self) -> Path:
        """Where the generation service listens (`rag_core.answers.service`)."""
        return self.data_dir / "generation.sock"

    @property
    def embedding_path(self) -> Path:
        assert self.embedding_model_path is not None  # set by the validator
        return self.embedding_model_path

    @property
    def embedding_space(self) -> str:
        """What the library records its vectors as made by: the catalogue's name of
        RAG_EMBEDDING_MODEL, or the folder RAG_EMBEDDING_MODEL_PATH names instead."""
        catalogued = self.models_dir / EMBEDDING_MODELS[self.embedding_model].folder
        if catalogued.resolve() == self.embedding_path:
            return self.embedding_model
        return str(self.embedding_path)

    def for_embedding_space(self, space: str) -> Settings:
        """These settings with the embedding model that made `space`'s vectors."""
        if space in EMBEDDING_MODELS:
            return self.model_copy(
                update={
                    "embedding_model": space,
                    "embedding_model_path": (
                        self.models_dir / EMBEDDING_MODELS[space].folder
                    ).resolve(),
                }
            )
        return self.model_copy(update={"embedding_model_path": Path(space)})

    @property
    def llm_path(self) -> Path:
        assert self.llm_model_path is not None  # set by the validator
        return self.llm_model_path

    def described(self) -> list[tuple[str, str, str]]:
        """(environment variable, value in use, description) for every setting, with
        any password in a database URL hidden: for a read-only settings view."""
        rows = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            shown = "" if value is None else str(value)
            if name == "database_url" and value:
                shown = redact_url(str(value))
            rows.append((f"RAG_{name.upper()}", shown, field.description or ""))
        return rows


def redact_url(url: str) -> str:
    """A database URL with its password replaced by ***."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)

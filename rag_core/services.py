"""The composition root: the one place that builds the expensive things (database
engine, embedding model, answer model) from the settings and hands them to the
services.  Models load lazily on first use; the database connects here."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rag_core.access.accounts import AccountParams, Accounts
from rag_core.access.audit import AuditTrail
from rag_core.access.tokens import Tokens
from rag_core.answers.abstention import AbstentionParams
from rag_core.answers.chat import AnswerMode, ChatParams, ChatService
from rag_core.answers.conversation import ModelRewriter, Rewrite
from rag_core.answers.evidence import EvidenceParams, EvidenceSelector
from rag_core.answers.expansion import ModelExpander
from rag_core.answers.generation import AnswerWriter, GenerationParams, Generator
from rag_core.answers.page_images import PageImage, PageImages
from rag_core.db import Database, open_database
from rag_core.db.vectorindex import BuildResources, HnswIndex, IndexKind
from rag_core.errors import RagError
from rag_core.extract import OcrOptions
from rag_core.ingestion.backlog import Backlog
from rag_core.ingestion.ingest import Ingestor
from rag_core.ingestion.isolation import ExtractionLimits
from rag_core.ingestion.jobs import JobQueue, QueueParams
from rag_core.ingestion.liveness import Liveness
from rag_core.ingestion.results import IngestOptions
from rag_core.library.actions import Library
from rag_core.library.catalog import Catalog
from rag_core.library.history import History, PastQuestion
from rag_core.library.insights import Insights, insights
from rag_core.modelfiles.catalog import EMBEDDING_MODELS, MINILM
from rag_core.quality.cases import Cases
from rag_core.quality.runs import Runs
from rag_core.search.embedding import Embedder
from rag_core.search.model_change import EmbedderChange, LibraryEmbedder, settle_space
from rag_core.search.onnx_embedding import export_dir_for
from rag_core.search.reranking import Reranker
from rag_core.search.retrieval import RetrievalParams, Retriever
from rag_core.search.textsearch import TextRanking
from rag_core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    embedder: LibraryEmbedder
    generator: AnswerWriter
    ingestor: Ingestor
    retriever: Retriever
    chat: ChatService
    catalog: Catalog
    queue: JobQueue
    history: History
    library: Library
    audit: AuditTrail
    accounts: Accounts
    tokens: Tokens
    page_images: PageImages
    liveness: Liveness
    backlog: Backlog
    cases: Cases
    runs: Runs
    model_change: EmbedderChange  # the library's vectors moved to another embedding model
    rewrite: Rewrite | None = None  # follow-ups made stand-alone by the answer model

    def close(self) -> None:
        self.ingestor.close()
        self.db.dispose()

    def retry_failed(self, paths: Iterable[Path] | None = None) -> list[Path]:
        """Queue failed files (all, or those of `paths` that failed) for another try
        by the watcher, even if unchanged.  Returns the paths queued."""
        failed = {Path(row.source) for row in self.catalog.failures()}
        wanted = failed if paths is None else {path.absolute() for path in paths} & failed
        for path in sorted(wanted):
            self.queue.enqueue(path, force=True)
        return sorted(wanted)

    def similar_questions(
        self, question: str, exclude: tuple[int, ...] = (), asked_by: str | None = None
    ) -> list[PastQuestion]:
        """Past questions close in meaning to `question` (its embedding is usually
        cached: it was just asked); `asked_by` keeps only that person's."""
        return self.history.similar(
            self.retriever.embed_query(question),
            min_similarity=self.settings.similar_question_floor,
            exclude=exclude,
            asked_by=asked_by,
        )

    def page_image(
        self, document_id: int, page: int, sentences: Sequence[str] = ()
    ) -> PageImage | None:
        """Page `page` of a PDF document with `sentences` highlighted; None when the
        document has no PDF file in the drop folder any more, or it cannot be drawn."""
        path = self.catalog.document_file(document_id)
        if path is None or path.suffix.lower() != ".pdf":
            return None
        return self.page_images.render(path, page, sentences)

    def insights(self, since: datetime) -> Insights:
        return insights(self.db, self.catalog, since)

    def warm_up(self, *, answer_model: bool = True) -> None:
        """Load the models now instead of on the first file or question (importing the
        embedding stack alone takes seconds).  A missing model is logged here and
        reported again, to the user, when it is first needed."""
        try:
            self.embedder.embed_one("warm-up")
            if answer_model and self.settings.answer_mode != "extractive":
                self.generator.warm()
        except RagError as exc:
            log.error("%s", exc)


def build_services(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    generator: AnswerWriter | None = None,
) -> Services:
    """Connect to the database and wire the services.  Already-loaded models may be
    passed in (a test session loads each model once)."""
    settings = settings or Settings()
    db = open_database(
        settings.database_url,
        settings.data_dir,
        settings.database_name,
        settings.text_search_config,
        vector_index=hnsw_index(settings),
        build=build_resources(settings),
        as_app_role=True,
        hide_parameters=not settings.log_content,
    )
    configured = embedder or build_embedder(settings)
    # A library made before models were recorded: by the default model, unless the
    # site named a folder of its own (then by that one).
    before = settings.embedding_space
    settle_space(db, configured.space, before if before not in EMBEDDING_MODELS else MINILM.name)
    embedder = LibraryEmbedder(
        configured, db, lambda space: build_embedder(settings.for_embedding_space(space))
    )
    generator = generator or build_generator(settings)
    retriever = Retriever(
        db,
        embedder,
        retrieval_params(settings),
        build_reranker(settings),
        ModelExpander(generator)
        if settings.expand_weak_questions and settings.answer_mode != "extractive"
        else None,
    )
    ingestor = Ingestor(
        db,
        embedder,
        IngestOptions(
            chunk_tokens=settings.chunk_tokens,
            chunk_overlap_tokens=settings.chunk_overlap_tokens,
            max_file_bytes=int(settings.max_file_mb * 1_000_000),
            limits=ExtractionLimits(
                timeout_seconds=settings.extract_timeout_seconds,
                memory_mb=settings.extract_memory_mb,
                max_pages=settings.max_pages,
                max_chars=settings.max_chars,
                ocr=OcrOptions(
                    settings.ocr_languages, settings.ocr_page_seconds, settings.ocr_workers
                )
                if settings.ocr
                else None,
            ),
            drop_dir=settings.drop_dir,
            attachments_dir=settings.attachments_dir,
            stale_seconds=settings.job_lease_seconds,
            disk_full_retry_seconds=settings.disk_full_retry_seconds,
            reading_dir=settings.data_dir / "reading",
        ),
    )
    queue = JobQueue(
        db,
        QueueParams(
            lease_seconds=settings.job_lease_seconds, max_attempts=settings.job_max_attempts
        ),
    )
    audit = AuditTrail(db)
    chat = ChatService(
        db,
        embedder,
        retriever,
        generator,
        ChatParams(
            relevance_floor=settings.relevance_floor,
            question_max_chars=settings.question_max_chars,
            top_k=settings.top_k,
            context_neighbours=settings.context_neighbours,
            questions_per_minute=settings.questions_per_minute,
            log_content=settings.log_content,
            mode=AnswerMode(settings.answer_mode),
            refusal_abstains_at=settings.refusal_abstains_at,
            abstention=AbstentionParams(
                min_evidence=settings.evidence_floor,
                check_terms=settings.abstain_on_missing_terms,
            ),
        ),
        audit,
        EvidenceSelector(
            embedder.embed,
            EvidenceParams(
                max_sentences=settings.evidence_sentences,
                model_sentences=settings.model_sentences,
            ),
        ),
    )
    runs = Runs(db, audit)
    return Services(
        settings=settings,
        db=db,
        embedder=embedder,
        generator=generator,
        ingestor=ingestor,
        retriever=retriever,
        chat=chat,
        catalog=Catalog(db),
        queue=queue,
        history=History(db),
        library=Library(settings.drop_dir, ingestor, queue, ingestor.options.max_file_bytes, audit),
        audit=audit,
        accounts=Accounts(db, audit, account_params(settings)),
        tokens=Tokens(db, audit),
        page_images=PageImages(settings.data_dir / "page-images"),
        liveness=Liveness(db),
        backlog=Backlog(db),
        cases=Cases(db, audit),
        runs=runs,
        model_change=EmbedderChange(db, embedder, staff_asking=runs.staff_asking),
        rewrite=ModelRewriter(generator)
        if settings.rewrite_follow_ups and settings.answer_mode != "extractive"
        else None,
    )


def account_params(settings: Settings) -> AccountParams:
    return AccountParams(
        min_password_length=settings.min_password_length,
        lockout_failures=settings.login_lockout_failures,
        lockout_minutes=settings.login_lockout_minutes,
        session_idle_minutes=settings.session_idle_minutes,
        session_max_hours=settings.session_max_hours,
    )


def retrieval_params(settings: Settings) -> RetrievalParams:
    return RetrievalParams(
        candidates=settings.candidates,
        rrf_k=settings.rrf_k,
        ef_search=settings.hnsw_ef_search,
        vector_weight=settings.rrf_vector_weight,
        text_weight=settings.rrf_text_weight,
        full_text_words=settings.full_text_words,
        query_cache_size=settings.query_cache_size,
        text_search_config=settings.text_search_config,
        title_weight=settings.title_weight,
        text_ranking=TextRanking(settings.text_ranking),
        bm25_k1=settings.bm25_k1,
        bm25_b=settings.bm25_b,
        near_copies_allowed=settings.near_copies_allowed,
        rerank_candidates=settings.rerank_candidates,
        statement_weight=settings.statement_weight,
        weak_similarity=settings.weak_similarity,
        index=hnsw_index(settings),
    )


def hnsw_index(settings: Settings) -> HnswIndex:
    return HnswIndex(
        IndexKind(settings.vector_index), settings.hnsw_m, settings.hnsw_ef_construction
    )


def build_resources(settings: Settings) -> BuildResources:
    return BuildResources(memory_mb=settings.index_build_memory_mb)


def build_reranker(settings: Settings) -> Reranker | None:
    if settings.reranker_model_path is None:
        return None
    return Reranker(settings.reranker_model_path)


def build_embedder(settings: Settings) -> Embedder:
    catalogued = EMBEDDING_MODELS.get(settings.embedding_space)
    return Embedder(
        settings.embedding_path,
        batch_size=settings.embedding_batch_size,
        backend=settings.embedding_backend,
        export_dir=export_dir_for(settings.embedding_path, settings.models_dir),
        truncate=catalogued is not None and catalogued.truncate,
        space=settings.embedding_space,
    )


def generation_params(settings: Settings) -> GenerationParams:
    return GenerationParams(
        context_tokens=settings.llm_context_tokens,
        max_answer_tokens=settings.llm_max_answer_tokens,
        temperature=settings.llm_temperature,
        repeat_penalty=settings.llm_repeat_penalty,
        threads=settings.llm_threads,
        use_chat_template=settings.llm_prompt_format == "auto",
    )


def build_generator(settings: Settings) -> AnswerWriter:
    """The shared generation service's client, or (RAG_GENERATION=local) a model of
    this process's own."""
    if settings.generation == "service":
        from rag_core.answers.client import ServiceGenerator

        return ServiceGenerator(settings, generation_params(settings))
    return build_local_generator(settings)


def build_local_generator(settings: Settings) -> Generator:
    return Generator(settings.llm_path, generation_params(settings))

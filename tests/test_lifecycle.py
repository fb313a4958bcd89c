"""The database follows the drop folder through a file's whole life: overwrite, rename,
move into a subfolder, duplicate, sidecar edits, delete, re-add.  Real watcher thread,
real database, real embedding model."""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from rag_core.db import Chunk, Document, FileRecord
from rag_core.ingestion.results import Outcome
from rag_core.services import Services
from tests.conftest import LiveWatcher
from tests.helpers import wait_for


@dataclass(frozen=True)
class DocState:
    id: int
    version: int
    status: str
    is_active: bool
    title: str
    document_type: str | None
    tags: tuple[str, ...]
    chunk_ids: tuple[int, ...]


def documents(services: Services) -> list[DocState]:
    with services.db.session() as session:
        docs = session.scalars(sa.select(Document).order_by(Document.id)).all()
        return [
            DocState(
                d.id,
                d.version,
                d.status,
                d.is_active,
                d.title,
                d.document_type,
                tuple(d.tags),
                tuple(
                    session.scalars(
                        sa.select(Chunk.id).where(Chunk.document_id == d.id).order_by(Chunk.id)
                    )
                ),
            )
            for d in docs
        ]


def files(services: Services) -> dict[str, tuple[int | None, bool]]:
    """Path relative to the drop folder -> (document id, present)."""
    drop = str(services.settings.drop_dir) + "/"
    with services.db.session() as session:
        rows = session.execute(
            sa.select(FileRecord.path, FileRecord.document_id, FileRecord.present)
        )
        return {row.path.removeprefix(drop): (row.document_id, row.present) for row in rows}


def searchable_texts(services: Services, query: str) -> list[str]:
    return [hit.text for hit in services.retriever.search(query, top_k=5)]


def test_the_database_follows_the_folder(services: Services, live_watcher: LiveWatcher) -> None:
    drop = services.settings.drop_dir

    def settled() -> bool:
        return wait_for(live_watcher.idle) and wait_for(live_watcher.idle)

    # 1. A new file.
    (drop / "policy.txt").write_text("Visiting hours are from 9 to 11 in the morning.")
    assert wait_for(lambda: [d.status for d in documents(services)] == ["ready"])
    [v1] = documents(services)
    assert (v1.version, v1.is_active, v1.title) == (1, True, "policy.txt")

    # 2. Overwritten with a new version: swapped in, the old one kept but out of search.
    (drop / "policy.txt").write_text("Visiting hours are from 14 to 18 in the afternoon.")
    assert wait_for(lambda: len(documents(services)) == 2 and documents(services)[1].is_active)
    assert settled()
    old, v2 = documents(services)
    assert (old.id, old.is_active, old.chunk_ids) == (v1.id, False, ())
    assert (v2.version, v2.status) == (2, "ready")
    assert searchable_texts(services, "visiting hours") == [
        "Visiting hours are from 14 to 18 in the afternoon."
    ]
    assert files(services) == {"policy.txt": (v2.id, True)}

    # 3. Renamed: the path follows, nothing is re-embedded.
    (drop / "policy.txt").rename(drop / "visiting.txt")
    assert wait_for(lambda: files(services).get("visiting.txt") == (v2.id, True))
    assert settled()
    assert files(services) == {"policy.txt": (v2.id, False), "visiting.txt": (v2.id, True)}
    renamed = documents(services)[1]
    assert (renamed.id, renamed.title, renamed.chunk_ids) == (v2.id, "visiting.txt", v2.chunk_ids)
    assert renamed.is_active

    # 4. Moved into a subfolder: the subfolder becomes its type, still not re-embedded.
    (drop / "wards").mkdir()
    (drop / "visiting.txt").rename(drop / "wards" / "visiting.txt")
    assert wait_for(lambda: files(services).get("wards/visiting.txt") == (v2.id, True))
    assert settled()
    moved = documents(services)[1]
    assert (moved.document_type, moved.chunk_ids, moved.is_active) == ("wards", v2.chunk_ids, True)
    assert len(documents(services)) == 2

    # 5. A sidecar gives title and tags, without re-embedding.
    sidecar = drop / "wards" / "visiting.txt.meta.json"
    sidecar.write_text(json.dumps({"title": "Visiting rules", "tags": ["wards", "public"]}))
    assert wait_for(lambda: documents(services)[1].title == "Visiting rules")
    tagged = documents(services)[1]
    assert (tagged.tags, tagged.chunk_ids) == (("wards", "public"), v2.chunk_ids)
    assert [hit.title for hit in services.retriever.search("visiting", top_k=1)] == [
        "Visiting rules"
    ]

    # 6. The same content under a second name: stored once, both paths listed.
    shutil.copy(drop / "wards" / "visiting.txt", drop / "copy.txt")
    assert wait_for(lambda: files(services).get("copy.txt") == (v2.id, True))
    assert settled()
    assert len(documents(services)) == 2
    assert sorted(row.source for row in services.catalog.documents()) == [
        str(drop / "copy.txt"),
        str(drop / "wards" / "visiting.txt"),
    ]
    assert len(searchable_texts(services, "visiting hours")) == 1

    # 7. Deleting one of the two names keeps the document searchable ...
    (drop / "copy.txt").unlink()
    assert wait_for(lambda: files(services)["copy.txt"] == (v2.id, False))
    assert documents(services)[1].is_active

    # 8. ... deleting the last one retires it: out of search, kept for the audit trail.
    (drop / "wards" / "visiting.txt").unlink()
    assert wait_for(lambda: not documents(services)[1].is_active)
    assert settled()
    assert searchable_texts(services, "visiting hours") == []
    retired = documents(services)[1]
    assert retired.chunk_ids == v2.chunk_ids
    assert services.catalog.documents() == []

    # 9. The file comes back: the same document and chunks, nothing re-embedded.
    (drop / "back.txt").write_text("Visiting hours are from 14 to 18 in the afternoon.")
    assert wait_for(lambda: documents(services)[1].is_active)
    assert settled()
    back = documents(services)[1]
    assert (back.id, back.chunk_ids, len(documents(services))) == (v2.id, v2.chunk_ids, 2)


def test_old_version_stays_searchable_until_the_new_one_is_committed(
    services: Services, tmp_path: Path
) -> None:
    note = tmp_path / "dosing.txt"
    note.write_text("The maximum dose of drug X for adults is 40 mg a day.")
    assert services.ingestor.ingest_file(note).outcome == Outcome.INGESTED
    # A new version long enough to be embedded in several slices.
    note.write_text(
        "\n\n".join(f"Paragraph {i}: dosing of drug Y number {i} for wards." for i in range(1200))
    )
    seen_while_embedding: list[list[str]] = []

    def progress(done: int, total: int, unit: str = "passages") -> None:
        if done < total:  # the new version is half embedded
            seen_while_embedding.append(searchable_texts(services, "maximum dose of drug X"))

    result = services.ingestor.ingest_file(note, progress=progress)
    assert result.outcome == Outcome.INGESTED
    assert seen_while_embedding, "expected several embedding slices"
    for texts in seen_while_embedding:
        assert texts == ["The maximum dose of drug X for adults is 40 mg a day."]
    after = searchable_texts(services, "maximum dose of drug X")
    assert after and not any("40 mg" in text for text in after)

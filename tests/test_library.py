"""Staff actions on the library (upload, edit, retire, restore, re-index) and the
history read back: the drop folder stays the truth and nothing is lost."""

import csv
import io
import json
from pathlib import Path

import pytest

from rag_core.ingestion.folders import sidecar_path
from rag_core.library.actions import LibraryActionRefused
from rag_core.library.catalog import DocumentQuery
from rag_core.library.history import HistoryQuery
from rag_core.services import Services
from tests.helpers import CLINIC_TEXT, CONTRACT_PAGES, make_pdf


@pytest.fixture
def drop(services: Services) -> Path:
    services.settings.drop_dir.mkdir(parents=True, exist_ok=True)
    return services.settings.drop_dir


def test_upload_never_overwrites_and_skips_identical_content(
    services: Services, drop: Path
) -> None:
    library = services.library
    first = library.upload("notes.txt", b"first version of the notes")
    assert first.path == drop / "notes.txt" and first.duplicate_of is None
    again = library.upload("notes.txt", b"first version of the notes")
    assert again.duplicate_of == drop / "notes.txt"
    other = library.upload("notes.txt", b"a different text")
    assert other.path == drop / "notes (2).txt"
    assert (drop / "notes.txt").read_bytes() == b"first version of the notes"
    assert not [p for p in drop.iterdir() if p.name.startswith(".")]  # no temporary left


@pytest.mark.parametrize(
    ("name", "data", "folder", "reason"),
    [
        ("virus.exe", b"MZ", None, "only these file types"),
        ("../escape.txt", b"text", None, "not a usable file name"),
        (".hidden.txt", b"text", None, "not a usable file name"),
        ("empty.txt", b"", None, "is empty"),
        ("notes.txt", b"text", "../elsewhere", "not a usable folder"),
        ("notes.txt.meta.json", b"{}", None, "only these file types"),
    ],
)
def test_upload_refuses_bad_files_with_a_reason(
    services: Services, drop: Path, name: str, data: bytes, folder: str | None, reason: str
) -> None:
    with pytest.raises(LibraryActionRefused, match=reason):
        services.library.upload(name, data, folder)
    assert list(drop.iterdir()) == []


def test_upload_over_the_size_limit_is_refused(services: Services, drop: Path) -> None:
    limit = services.library.max_file_bytes
    with pytest.raises(LibraryActionRefused, match="MB; the limit is"):
        services.library.upload("big.txt", b"x" * (limit + 1))


def test_upload_into_a_type_folder(services: Services, drop: Path) -> None:
    upload = services.library.upload("clinic.txt", CLINIC_TEXT.encode(), "handbooks")
    assert upload.path == drop / "handbooks" / "clinic.txt"
    [result] = list(services.ingestor.ingest_paths([upload.path]))
    assert result.outcome.value == "ingested"
    assert services.catalog.document_types() == ["handbooks"]


def test_blank_title_and_type_fall_back_to_file_name_and_folder(
    services: Services, drop: Path
) -> None:
    path = make_pdf(drop / "contracts" / "contract.pdf", CONTRACT_PAGES)
    list(services.ingestor.ingest_paths([path]))
    services.library.edit(path, title="Renamed", document_type="leases", tags=["a", " b ", ""])
    assert json.loads(sidecar_path(path).read_text()) == {
        "title": "Renamed",
        "document_type": "leases",
        "tags": ["a", "b"],
    }
    services.library.edit(path, title=" ", document_type="", tags=[])
    [row] = services.catalog.documents()
    assert (row.title, row.document_type, row.tags) == ("contract.pdf", "contracts", ())


def test_retire_refuses_files_outside_the_drop_folder(services: Services, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "notes.txt"
    outside.parent.mkdir()
    outside.write_text(CLINIC_TEXT)
    with pytest.raises(LibraryActionRefused, match="outside the drop folder"):
        services.library.retire(outside)
    assert outside.exists()


def test_restore_refuses_to_overwrite_a_new_file_of_the_same_name(
    services: Services, drop: Path
) -> None:
    path = drop / "notes.txt"
    path.write_text(CLINIC_TEXT)
    list(services.ingestor.ingest_paths([path]))
    retired = services.library.retire(path)
    path.write_text("a new file with the old name")
    with pytest.raises(LibraryActionRefused, match="Rename one of them"):
        services.library.restore(retired.path)
    assert retired.path.read_text() == CLINIC_TEXT
    assert path.read_text() == "a new file with the old name"


def test_failed_reindex_keeps_the_old_passages_searchable(
    services: Services, drop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_pdf(drop / "contract.pdf", CONTRACT_PAGES)
    list(services.ingestor.ingest_paths([path]))

    def broken(texts: list[str]) -> None:
        raise RuntimeError("embedding backend crashed")

    monkeypatch.setattr(services.ingestor.embedder.current(), "embed", broken)
    result = services.ingestor.ingest_file(path, reindex=True)
    assert result.outcome.value == "failed"
    monkeypatch.undo()
    [hit] = services.retriever.search("notice period for termination", top_k=1)
    assert hit.page == 2
    [row] = services.catalog.documents()
    assert row.status == "failed"
    assert row.error is not None and row.error.startswith("re-index failed")


def test_catalog_pages_and_searches_titles(services: Services, drop: Path) -> None:
    for number in range(5):
        (drop / f"memo-{number}.txt").write_text(f"Memo number {number}: {CLINIC_TEXT}")
    (drop / "minutes.txt").write_text("Minutes of the board meeting.")
    list(services.ingestor.ingest_paths([drop]))
    page = services.catalog.find(DocumentQuery(search="memo", limit=2, offset=2))
    assert page.total == 5
    assert len(page.rows) == 2
    assert all(row.title.startswith("memo-") and row.chunks == 1 for row in page.rows)
    assert services.catalog.find(DocumentQuery(search="minutes")).total == 1


def test_history_exports_every_matching_question_as_csv(services: Services) -> None:
    for question in ("Who painted the Mona Lisa?", "Who built the pyramids?"):
        stream = services.chat.ask(question)
        "".join(stream)
    entries = services.history.find(HistoryQuery(search="pyramids")).entries
    services.history.rate(entries[0].id, 1)
    services.history.comment(entries[0].id, "  no answer, fine  ")
    rows = list(csv.DictReader(io.StringIO(services.history.export_csv(HistoryQuery()))))
    assert [r["question"] for r in rows] == [
        "Who built the pyramids?",
        "Who painted the Mona Lisa?",
    ]
    assert rows[0]["abstained"] == "yes"
    assert (rows[0]["feedback"], rows[0]["feedback_comment"]) == ("1", "no answer, fine")
    only_rated = services.history.find(HistoryQuery(feedback="low"))
    assert [e.question for e in only_rated.entries] == ["Who built the pyramids?"]

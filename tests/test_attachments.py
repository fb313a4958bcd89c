"""An e-mail's attachments become documents of their own, linked to the message: read
by their own reader, cited by their own pages, stored once, and in search exactly
while the message is."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st

from rag_core.db import Document, FileRecord
from rag_core.ingestion.results import IngestResult, Outcome
from rag_core.library.actions import LibraryActionRefused
from rag_core.library.backup import backup, restore
from rag_core.services import Services
from tests.conftest import with_database
from tests.helpers import CONTRACT_PAGES, make_pdf
from tests.office_files import make_eml, make_zip_bomb
from tests.test_app import add_accounts, ask, start

QUESTION = "How many days of notice to terminate?"


def _message_with_contract(folder: Path, tmp_path: Path, name: str = "signed.eml") -> Path:
    contract = make_pdf(tmp_path / "contract.pdf", CONTRACT_PAGES).read_bytes()
    folder.mkdir(parents=True, exist_ok=True)
    return make_eml(folder / name, attachment=contract)


def _ingest(services: Services, path: Path) -> IngestResult:
    [result] = list(services.ingestor.ingest_paths([path]))
    return result


def _answers_from_contract(services: Services) -> list[int]:
    return [
        hit.document_id
        for hit in services.retriever.search(QUESTION, top_k=3)
        if "ninety (90) days" in hit.text
    ]


def test_an_attachment_is_a_document_of_its_own_cited_by_its_page(
    services: Services, tmp_path: Path
) -> None:
    message = _ingest(services, _message_with_contract(services.settings.drop_dir, tmp_path))
    assert message.outcome == Outcome.INGESTED, message.line()
    [attachment] = message.attachments
    assert attachment.outcome == Outcome.INGESTED, attachment.line()
    assert attachment.path.name == "order.pdf"
    assert attachment.path.is_relative_to(services.settings.data_dir / "attachments")
    assert "order.pdf" in message.line().splitlines()[1]

    [best] = services.retriever.search(QUESTION, top_k=1)
    assert best.document_id == attachment.document_id != message.document_id
    assert best.page == 2 and "ninety (90) days" in best.text
    with services.db.session() as session:
        document = session.get(Document, attachment.document_id)
        assert document is not None
        assert document.metadata_["attachment_of"] == message.document_id
        assert document.metadata_["message"] == "Insulin order for ward 4"
    # Listed with the other files, under the message's name.
    rows = {Path(row.source).name: row for row in services.catalog.documents()}
    assert rows["order.pdf"].status == "ready" and "signed-" in rows["order.pdf"].source
    assert rows["order.pdf"].attached_to == "Insulin order for ward 4"
    assert rows["signed.eml"].attached_to is None


def test_attachments_leave_search_with_their_message_and_come_back_with_it(
    services: Services, tmp_path: Path
) -> None:
    drop = services.settings.drop_dir
    path = _message_with_contract(drop, tmp_path)
    message = _ingest(services, path)
    [attachment] = message.attachments
    assert _answers_from_contract(services) == [attachment.document_id]

    aside = tmp_path / "aside.eml"
    shutil.move(path, aside)
    assert _ingest(services, path).outcome == Outcome.RETIRED
    assert _answers_from_contract(services) == []
    assert "order.pdf" not in {Path(r.source).name for r in services.catalog.documents()}

    shutil.move(aside, path)
    back = _ingest(services, path)
    assert back.outcome == Outcome.LINKED, back.line()
    assert _answers_from_contract(services) == [attachment.document_id]

    # A new version of the message without the contract: the contract leaves search.
    make_eml(path, attachment=b"%PDF-1.4 not really a pdf")
    replaced = _ingest(services, path)
    assert replaced.outcome == Outcome.INGESTED and replaced.attachments[0].failed
    assert _answers_from_contract(services) == []


def test_the_same_file_dropped_and_attached_is_stored_once(
    services: Services, tmp_path: Path
) -> None:
    drop = services.settings.drop_dir
    message = _ingest(services, _message_with_contract(drop, tmp_path))
    dropped = _ingest(services, shutil.copy(tmp_path / "contract.pdf", drop / "contract.pdf"))
    assert dropped.outcome == Outcome.LINKED
    assert dropped.document_id == message.attachments[0].document_id


def test_an_attachment_cut_off_by_a_crash_is_ingested_when_the_message_is_tried_again(
    services: Services, tmp_path: Path
) -> None:
    path = _message_with_contract(services.settings.drop_dir, tmp_path)
    message = _ingest(services, path)
    # As if the process died after storing the message, before its attachment.
    with services.db.session() as session:
        session.execute(
            sa.delete(FileRecord).where(FileRecord.path == str(message.attachments[0].path))
        )
        session.execute(
            sa.delete(Document).where(Document.id == message.attachments[0].document_id)
        )
    assert _answers_from_contract(services) == []
    again = services.ingestor.ingest_file(path)
    assert again.outcome == Outcome.UNCHANGED
    assert [a.outcome for a in again.attachments] == [Outcome.INGESTED]
    assert _answers_from_contract(services) == [again.attachments[0].document_id]


def test_a_bad_attachment_fails_alone_with_its_reason_and_a_hostile_name_stays_in_its_folder(
    services: Services, tmp_path: Path
) -> None:
    bomb = make_zip_bomb(tmp_path / "bomb.docx").read_bytes()
    mail = make_eml(tmp_path / "bomb.eml", attachment=bomb)
    # The attachment's name tries to climb out of its folder.
    mail.write_bytes(mail.read_bytes().replace(b'filename="order.pdf"', b'filename="../../x.docx"'))
    message = _ingest(services, mail)
    assert message.outcome == Outcome.INGESTED
    [attachment] = message.attachments
    assert attachment.outcome == Outcome.FAILED and "zip bomb" in attachment.message
    assert attachment.path.name == "x.docx"
    assert attachment.path.parent.parent == services.settings.data_dir / "attachments"


def test_an_attachment_is_retired_through_its_message(services: Services, tmp_path: Path) -> None:
    message = _ingest(services, _message_with_contract(services.settings.drop_dir, tmp_path))
    with pytest.raises(LibraryActionRefused, match="retire the message"):
        services.library.retire(message.attachments[0].path)


def test_a_backup_carries_the_attachments(
    services: Services, tmp_path: Path, database_url: str
) -> None:
    message = _ingest(services, _message_with_contract(services.settings.drop_dir, tmp_path))
    kept = services.settings.attachments_dir
    archive = tmp_path / "library.tar"
    summary = backup(database_url, services.settings.drop_dir, archive, attachments_dir=kept)
    assert summary.files == 3  # the message, the attachment, its sidecar

    fresh_url = with_database(database_url, f"restored_{tmp_path.name[-8:]}".lower())
    admin = sa.create_engine(with_database(database_url, "postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{sa.engine.make_url(fresh_url).database}"'))
    admin.dispose()
    fresh = tmp_path / "fresh"
    restored = restore(
        fresh_url, fresh / "drop", archive, replace=False, attachments_dir=fresh / "attachments"
    )
    assert restored.files_restored == 3
    attachment = message.attachments[0].path
    assert (fresh / "attachments" / attachment.relative_to(kept)).read_bytes() == (
        attachment.read_bytes()
    )


def test_the_source_card_names_the_message_an_attachment_came_with(
    services: Services, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest(services, _message_with_contract(services.settings.drop_dir, tmp_path))
    add_accounts(services)
    at = start(tmp_path, monkeypatch, database_url)
    ask(at, QUESTION)
    captions = [c.value for c in at.caption]
    assert "Attached to the e-mail “Insulin order for ward 4”" in captions, captions
    st.cache_resource.clear()

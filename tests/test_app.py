"""The chat page under Streamlit's AppTest, on the real database and models."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest

from rag_core.db import Job
from rag_core.services import Services
from tests.conftest import MODELS_DIR, REPO
from tests.helpers import CONTRACT_PAGES, make_pdf

TIMEOUT = 180


@pytest.fixture
def app(
    services: Services, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AppTest]:
    make_pdf(tmp_path / "docs" / "contract.pdf", CONTRACT_PAGES)
    (tmp_path / "docs" / "broken.pdf").write_bytes(b"nonsense")
    list(services.ingestor.ingest_paths([tmp_path / "docs"]))
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RAG_MODELS_DIR", str(MODELS_DIR))
    monkeypatch.setenv("RAG_LLM_TEMPERATURE", "0")
    st.cache_resource.clear()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    yield at
    st.cache_resource.clear()


def test_sidebar_shows_library_status_and_failures(app: AppTest) -> None:
    metrics = {m.label: m.value for m in app.sidebar.metric}
    assert metrics == {"Queued": "0", "Processing": "0", "Ready": "1", "Failed": "1"}
    assert any("broken.pdf" in md.value and "damaged" in md.value for md in app.sidebar.markdown)
    assert app.sidebar.multiselect[0].options == ["pdf"]


def test_retry_queues_a_failed_file(app: AppTest, services: Services) -> None:
    [retry] = [button for button in app.sidebar.button if button.label == "Retry"]
    retry.click().run()
    assert not app.exception
    with services.db.session() as session:
        jobs = session.execute(sa.select(Job.path, Job.status, Job.force)).all()
    assert [(Path(path).name, status, force) for path, status, force in jobs] == [
        ("broken.pdf", "queued", True)
    ]
    assert {m.label: m.value for m in app.sidebar.metric}["Queued"] == "1"


def test_question_gets_a_streamed_answer_with_sources(app: AppTest) -> None:
    app.chat_input[0].set_value("What is the notice period for termination?").run()
    assert not app.exception
    user, assistant = app.chat_message
    assert user.markdown[0].value == "What is the notice period for termination?"
    answer_text = assistant.markdown[0].value
    assert "ninety" in answer_text.lower() or "90" in answer_text
    sources = assistant.expander[0]
    assert sources.label.startswith("Sources (")
    assert "contract.pdf, page 2" in sources.markdown[0].value

    # The conversation stays on screen when the page reruns.
    app.run()
    assert len(app.chat_message) == 2


def test_unrelated_question_says_documents_do_not_contain_it(app: AppTest) -> None:
    app.chat_input[0].set_value("Who painted the Mona Lisa?").run()
    assistant = app.chat_message[1]
    assert "do not contain" in assistant.markdown[0].value
    assert not assistant.expander


def test_overlong_question_gets_a_polite_warning(app: AppTest) -> None:
    app.chat_input[0].set_value("why " * 1000).run()
    assert not app.exception
    assert "too long" in app.warning[0].value


def test_a_question_asked_before_is_shown_as_similar(app: AppTest) -> None:
    app.chat_input[0].set_value("Who painted the Mona Lisa?").run()
    app.chat_input[0].set_value("Which painter made the Mona Lisa?").run()
    assert not app.exception
    second = app.chat_message[3]
    [similar] = second.expander
    assert similar.label == "Similar past questions (1)"
    assert "Who painted the Mona Lisa?" in similar.markdown[0].value

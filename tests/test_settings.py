import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from rag_core.settings import Settings
from tests.conftest import REPO

ENV_EXAMPLE = REPO / ".env.example"


def test_env_example_documents_every_setting() -> None:
    text = ENV_EXAMPLE.read_text()
    names = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    expected = {f"RAG_{name.upper()}" for name in Settings.model_fields} - {"RAG_DATABASE_URL"}
    assert expected | {"DATABASE_URL"} == names


def test_env_example_values_are_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    from_example = Settings(_env_file=ENV_EXAMPLE)  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert from_example == defaults
    assert defaults.database_url is None
    assert defaults.embedding_path == tmp_path / "models_cache" / "all-MiniLM-L6-v2"


def test_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/rag")
    monkeypatch.setenv("RAG_DROP_DIR", str(tmp_path / "inbox"))
    monkeypatch.setenv("RAG_LLM_MODEL_PATH", str(tmp_path / "big.gguf"))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "postgresql://db/rag"
    assert settings.drop_dir == tmp_path / "inbox"
    assert settings.llm_path == tmp_path / "big.gguf"


def test_overlap_larger_than_chunk_is_refused() -> None:
    with pytest.raises(ValidationError, match="OVERLAP"):
        Settings(_env_file=None, chunk_tokens=50, chunk_overlap_tokens=60)  # type: ignore[call-arg]

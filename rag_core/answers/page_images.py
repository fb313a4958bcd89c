"""A PDF page as an image, with the evidence sentences highlighted on it.

Staff check an answer on the page itself.  PDFium (pypdfium2) renders the page and
gives each character's box; the quoted sentence is found in the page's characters by
its letters and digits alone (the text was extracted by another reader, so spaces,
hyphens and line breaks may differ) and its boxes are painted over in yellow.  The
image is the part of the page around the marks (a fifth of the page above and below
them), so the evidence is in view at once; with nothing to mark, the whole page.

Rendering runs in a child process under a time and memory limit, like extraction: a
PDF that crashes or hangs PDFium costs one image, never the app.  Images are cached
under the data folder by the file's content, the page and the sentences, so a page
seen once comes back at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent.parent)
_HIGHLIGHT = (255, 214, 0, 110)  # yellow, see-through
_CONTEXT_SHARE = 0.2  # page height shown above and below the marked lines
_PROBE = 80  # letters of a sentence looked for when the whole of it is not on the page


@dataclass(frozen=True)
class PageImageParams:
    scale: float = 1.5  # 108 dpi: small print stays legible in a card
    timeout_seconds: float = 20.0
    memory_mb: int = 1024


@dataclass(frozen=True)
class PageImage:
    path: Path
    found: int  # how many of the sentences were found and highlighted


class PageImages:
    """Renders and caches page images; holds no per-user state."""

    def __init__(self, cache_dir: Path, params: PageImageParams = PageImageParams()) -> None:
        self.cache_dir = cache_dir
        self.params = params

    def render(self, pdf: Path, page: int, sentences: Sequence[str] = ()) -> PageImage | None:
        """Page `page` (1-based) of `pdf` with `sentences` highlighted, or None when the
        file is gone or cannot be rendered (logged)."""
        if not pdf.is_file():
            return None
        key = hashlib.sha256(
            json.dumps([_file_key(pdf), page, list(sentences), self.params.scale]).encode()
        ).hexdigest()[:24]
        target = self.cache_dir / f"{key}.png"
        found_file = target.with_suffix(".found")
        if target.is_file() and found_file.is_file():
            return PageImage(target, int(found_file.read_text() or 0))
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        request = json.dumps(
            {
                "pdf": str(pdf),
                "page": page,
                "out": str(target),
                "scale": self.params.scale,
                "sentences": list(sentences),
                "memory_mb": self.params.memory_mb,
            }
        )
        try:
            done = subprocess.run(
                [sys.executable, "-m", "rag_core.answers.page_images"],
                input=request.encode(),
                capture_output=True,
                timeout=self.params.timeout_seconds,
                env={**os.environ, "PYTHONPATH": _PACKAGE_ROOT},
                check=False,
            )
        except subprocess.TimeoutExpired:
            log.warning("rendering page %d of %s timed out", page, pdf)
            return None
        if done.returncode != 0 or not target.is_file():
            log.warning(
                "rendering page %d of %s failed: %s",
                page,
                pdf,
                done.stderr.decode(errors="replace")[-2000:],
            )
            return None
        found = int(done.stdout.decode().strip() or 0)
        found_file.write_text(str(found))
        return PageImage(target, found)


def _file_key(pdf: Path) -> str:
    stat = pdf.stat()
    return f"{pdf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def _letters(text: str) -> tuple[str, list[int]]:
    """`text`'s letters and digits, lower-cased, with each one's index in `text`."""
    kept: list[str] = []
    where: list[int] = []
    for index, char in enumerate(text):
        if char.isalnum():
            kept.append(char.lower())
            where.append(index)
    return "".join(kept), where


def locate(page_text: str, sentence: str) -> tuple[int, int] | None:
    """[start, end) of `sentence` in `page_text`, matched on letters and digits only;
    when the whole is not there (a sentence running onto the next page), its start."""
    haystack, where = _letters(page_text)
    needle, _ = _letters(sentence)
    if not needle:
        return None
    at = haystack.find(needle)
    if at < 0:
        needle = needle[:_PROBE]
        at = haystack.find(needle)
        if at < 0 or len(needle) < 12:
            return None
    return where[at], where[at + len(needle) - 1] + 1


def _render(request: dict[str, object]) -> int:
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    scale = float(request["scale"])  # type: ignore[arg-type]
    document = pdfium.PdfDocument(str(request["pdf"]))
    page = document[int(request["page"]) - 1]  # type: ignore[call-overload]
    image = page.render(scale=scale).to_pil().convert("RGBA")
    textpage = page.get_textpage()
    text = textpage.get_text_range()
    height = page.get_height()
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    found = 0
    band = [image.height, 0]  # the rows the highlights cover
    for sentence in request["sentences"]:  # type: ignore[attr-defined]
        span = locate(text, str(sentence))
        if span is None:
            continue
        found += 1
        for index in range(*span):
            if text[index].isspace():
                continue
            left, bottom, right, top = textpage.get_charbox(index, loose=True)
            box = (left * scale, (height - top) * scale, right * scale, (height - bottom) * scale)
            draw.rectangle(box, fill=_HIGHLIGHT)
            band = [min(band[0], int(box[1])), max(band[1], int(box[3]))]
    marked = Image.alpha_composite(image, overlay).convert("RGB")
    if found:  # the part of the page around the evidence, with room for its context
        margin = int(image.height * _CONTEXT_SHARE)
        marked = marked.crop(
            (0, max(band[0] - margin, 0), image.width, min(band[1] + margin, image.height))
        )
    marked.save(str(request["out"]), "PNG")
    return found


def _child() -> None:
    request = json.loads(sys.stdin.buffer.read())
    limit = int(request["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    print(_render(request))


if __name__ == "__main__":
    _child()

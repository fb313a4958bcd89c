"""A corpus of broken and hostile files, made by the tests, with what should become of
each: ("ready", None) or ("failed", words the reason must contain).  A name with no
entry is one the watcher must ignore (temporary files) or that has no file to record
(a link loop inside a folder)."""

from __future__ import annotations

import ctypes
import os
import random
import zlib
from pathlib import Path

from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, NumberObject, TextStringObject

from tests.helpers import CLINIC_TEXT, CONTRACT_PAGES, encrypt_pdf, make_pdf
from tests.office_files import make_eml, make_html, make_zip_bomb

Expected = tuple[str, str | None]
READY: Expected = ("ready", None)


def _raw_pdf(objects: list[bytes], trailer: bytes, *, xref: bool = True) -> bytes:
    """A PDF from object bodies (object i+1 = objects[i]) with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    start = len(out)
    if xref:
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        for offset in offsets:
            out += b"%010d 00000 n \n" % offset
    out += b"trailer\n" + trailer + b"\nstartxref\n%d\n%%%%EOF\n" % start
    return bytes(out)


def _page_with_stream(content: bytes, *, compress: bool = False) -> bytes:
    """A one-page PDF whose page draws `content` (a content stream)."""
    data = zlib.compress(content, 9) if compress else content
    flate = b" /Filter /FlateDecode" if compress else b""
    return _raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d%s >>\nstream\n" % (len(data), flate) + data + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ],
        b"<< /Size 6 /Root 1 0 R >>",
    )


def build_hostile_corpus(drop: Path, scratch: Path) -> dict[str, Expected]:
    """Write the corpus into `drop`; `scratch` is a folder for intermediate files."""
    rng = random.Random(7)
    expected: dict[str, Expected] = {}

    def put(name: str, data: bytes, outcome: Expected) -> Path:
        path = drop / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expected[name] = outcome
        return path

    good_pdf = make_pdf(scratch / "good.pdf", CONTRACT_PAGES).read_bytes()

    # Empty and tiny files.
    put("empty.pdf", b"", ("failed", "empty file"))
    put("empty.txt", b"", ("failed", "empty file"))
    put("one-byte.pdf", b"%", ("failed", "damaged"))
    put("blank.txt", b" \n\n\t \n", ("failed", "no text"))
    # Damaged PDFs.
    put("truncated.pdf", good_pdf[: len(good_pdf) // 3], ("failed", "damaged"))
    put("random-bytes.pdf", rng.randbytes(50_000), ("failed", "damaged"))
    put("html-named.pdf", b"<html><body>Not found</body></html>", ("failed", "damaged"))
    put("header-only.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", ("failed", "damaged"))
    # Every object moved by a stray line: the xref offsets are all wrong (pypdf rebuilds them).
    put("wrong-offsets.pdf", good_pdf.replace(b"\n", b"\n% stray line\n", 1), READY)
    put("circular-xref.pdf", _circular_xref(), READY)
    put(
        "cyclic-page-tree.pdf",
        _raw_pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>",  # its own child
            ],
            b"<< /Size 3 /Root 1 0 R >>",
        ),
        ("failed", "damaged"),
    )
    _cyclic_outlines(scratch / "good.pdf", drop / "cyclic-outlines.pdf")
    expected["cyclic-outlines.pdf"] = READY
    put(
        "deep-nesting.pdf",
        _page_with_stream(b"[" * 100_000 + b"]" * 100_000),
        ("failed", "no text, even recognised"),
    )
    # 200,000 drawing operations: pypdf was busy for minutes and was killed at the
    # time limit; PDFium reads them in a second (the limit: test_extract).
    put(
        "slow-to-parse.pdf",
        _page_with_stream(b"BT /F1 12 Tf 72 720 Td (a) Tj ET\n" * 200_000, compress=True),
        READY,
    )
    # Locked PDFs.
    encrypt_pdf(scratch / "good.pdf", drop / "encrypted-aes.pdf")
    expected["encrypted-aes.pdf"] = ("failed", "encrypted PDF")
    _encrypt(scratch / "good.pdf", drop / "encrypted-rc4.pdf", "RC4-128", "secret")
    expected["encrypted-rc4.pdf"] = ("failed", "encrypted PDF")
    _encrypt(scratch / "good.pdf", drop / "owner-password-only.pdf", "AES-128", "")
    expected["owner-password-only.pdf"] = READY  # opens without a password
    # No text, too big, too long.
    # A "scan" of a blue rectangle: recognised, and nothing found.
    put(
        "blank-scan.pdf",
        _page_with_stream(b"0 0 1 rg 72 72 400 600 re f"),
        ("failed", "no text, even recognised"),
    )
    _many_pages(drop / "3000-pages.pdf", 3000)
    expected["3000-pages.pdf"] = ("failed", "exceeds 2,000 pages")
    # 300 MB of blanks inflated from 300 KB: read (and its page image drawn) within the
    # memory limit, no text.
    put(
        "zip-bomb.pdf",
        _page_with_stream(b" " * 300_000_000, compress=True),
        ("failed", "no text, even recognised"),
    )
    put("too-many-chars.txt", b"word " * 2_200_000, ("failed", "characters"))
    _sparse(drop / "200MB.txt", 200_000_000)
    expected["200MB.txt"] = ("failed", "larger than the 100 MB limit")
    # Text in other encodings, binary named as text.
    put("utf16.txt", "\ufeffDosage in UTF-16: 5 mg.".encode("utf-16-le"), READY)
    put("latin1.txt", "Café crème, dosage für Kinder: 2 mg.".encode("latin-1"), READY)
    put("binary.txt", bytes(range(256)) * 100, ("failed", "binary"))
    put("invalid-utf8.md", b"# Notes\n\n\xff\xfe\xfa broken bytes but readable text.", READY)
    # Types we do not read.
    put("photo.jpg", b"\xff\xd8\xff\xe0" + rng.randbytes(1000), ("failed", "unsupported"))
    put("archive.docx", b"PK\x03\x04" + rng.randbytes(500), ("failed", "zip container"))
    put(
        "old-letter.doc",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600),
        ("failed", "unsupported"),
    )
    # Office, web and e-mail files that attack.
    expected[make_zip_bomb(drop / "bomb.docx").name] = ("failed", "zip bomb")
    put("million-rows.csv", b"id,value\n" + b"1,2\n" * 1_000_000, ("failed", "rows (the limit)"))
    put("pdf-named.docx", good_pdf, READY)  # read as what it is
    expected[make_html(drop / "remote.html").name] = READY  # nothing fetched (air-gap test)
    hostile_pdf = _page_with_stream(b" " * 300_000_000, compress=True)
    expected[make_eml(drop / "nested.eml", attachment=hostile_pdf).name] = READY
    # Its attachment is a document of its own, kept outside the drop folder.
    expected["attachments/order.pdf"] = ("failed", "no text, even recognised")
    put("README", b"no extension", ("failed", "unsupported"))
    # Odd names.
    put("é ü 日本語 notes.txt", CLINIC_TEXT.encode(), READY)
    put(("long" * 60) + ".txt", b"A file with a very long name.", READY)
    put("new\nline.txt", b"A file with a line break in its name.", READY)
    # Things that are not regular files.
    (drop / "loop-a.pdf").symlink_to("loop-b.pdf")
    (drop / "loop-b.pdf").symlink_to("loop-a.pdf")
    expected["loop-a.pdf"] = expected["loop-b.pdf"] = ("failed", "symbolic link")
    (drop / "dangling.pdf").symlink_to("missing.pdf")
    expected["dangling.pdf"] = ("failed", "symbolic link")
    (drop / "linked-folder").mkdir()
    (drop / "linked-folder" / "up").symlink_to("..")  # a folder link loop: not followed
    os.mkfifo(drop / "pipe.pdf")
    expected["pipe.pdf"] = ("failed", "not a regular file")
    locked = put("unreadable.pdf", good_pdf, ("failed", "cannot be opened"))
    locked.chmod(0)
    # Temporary names, never read.
    for name in ("big.pdf.part", "big.pdf.crdownload", "~$letter.docx", ".~lock.x.odt#", ".env"):
        (drop / name).write_bytes(b"%PDF-1.4 partial")
    # A sidecar that is not JSON: the file is still ingested.
    put("with-bad-sidecar.txt", b"Sidecars are optional.", READY)
    (drop / "with-bad-sidecar.txt.meta.json").write_text("{not json")
    return expected


def _circular_xref() -> bytes:
    """A text page whose trailer says the previous xref section is itself."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length 52 >>\nstream\nBT /F1 12 Tf 72 720 Td (Circular reference) Tj ET\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    plain = _raw_pdf(objects, b"<< /Size 6 /Root 1 0 R >>")
    start = int(plain.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    return _raw_pdf(objects, b"<< /Size 6 /Root 1 0 R /Prev %d >>" % start)


def _encrypt(source: Path, target: Path, algorithm: str, user_password: str) -> None:
    writer = PdfWriter(clone_from=source)
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm=algorithm)
    with target.open("wb") as handle:
        writer.write(handle)


def _many_pages(path: Path, count: int) -> None:
    writer = PdfWriter()
    for _ in range(count):
        writer.add_blank_page(612, 792)
    with path.open("wb") as handle:
        writer.write(handle)


def _cyclic_outlines(source: Path, target: Path) -> None:
    """A readable PDF whose outline (bookmark) entries point at each other forever."""
    writer = PdfWriter(clone_from=source)
    first = DictionaryObject({NameObject("/Title"): TextStringObject("A")})
    second = DictionaryObject({NameObject("/Title"): TextStringObject("B")})
    first_ref, second_ref = writer._add_object(first), writer._add_object(second)
    first[NameObject("/Next")] = second[NameObject("/Prev")] = second_ref
    second[NameObject("/Next")] = first[NameObject("/Prev")] = first_ref
    outlines = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Outlines"),
            NameObject("/First"): first_ref,
            NameObject("/Last"): second_ref,
            NameObject("/Count"): NumberObject(2),
        }
    )
    writer._root_object[NameObject("/Outlines")] = writer._add_object(outlines)
    with target.open("wb") as handle:
        writer.write(handle)


def _sparse(path: Path, size: int) -> None:
    """A file of `size` bytes of text, written quickly (one repeated block)."""
    block = b"The same line of a very large log file.\n" * 25_000  # 1 MB
    with path.open("wb") as handle:
        for _ in range(size // len(block)):
            handle.write(block)


_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2
_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def read_files_like_a_normal_user() -> None:
    """Make file permissions apply to the calling thread even when running as root
    (CI runs as root), by dropping the capabilities that bypass them from this thread
    alone.  Threads it starts inherit this.  A no-op for a normal user."""
    libc = ctypes.CDLL(None, use_errno=True)
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)  # pid 0: this thread
    data = (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    data[0].effective &= ~((1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_DAC_READ_SEARCH))
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")

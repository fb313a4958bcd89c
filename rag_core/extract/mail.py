"""E-mail (.eml): the headers staff look for (from, to, cc, date, subject) and the body
(its plain text, else its HTML as text) as one document; a forwarded message inside
it follows as part of the text.  Attachments of a type we read are read with the
message (by their own format's reader, in the same reader process and limits) and
follow it, each part cited "Attachment order.pdf, page 2"; one that cannot be read
says why in the text.  Title: the subject."""

from __future__ import annotations

import email
import email.policy
import tempfile
from dataclasses import replace
from email.message import EmailMessage, MIMEPart
from pathlib import Path

from rag_core.errors import ExtractionFailed, RagError
from rag_core.extract.common import Extracted, Page, TextBuilder, refuse_larger_than
from rag_core.extract.web import html_page
from rag_core.pdftext import too_many_chars
from rag_core.structure import Heading

_SHOWN = ("From", "To", "Cc", "Date", "Subject")
MAX_NESTING = 5  # forwarded messages inside forwarded messages, read this deep


def read(path: Path, max_pages: int, max_chars: int) -> Extracted:
    refuse_larger_than(path, max_chars)
    with path.open("rb") as handle:
        message = email.message_from_binary_file(handle, policy=email.policy.default)
    if not isinstance(message, EmailMessage) or not message.keys():
        raise ExtractionFailed("not an e-mail message (no headers)")
    text = TextBuilder()
    attachments: list[tuple[str, bytes]] = []
    _message(message, text, 0, attachments)
    if text.chars > max_chars:
        raise ExtractionFailed(too_many_chars(max_chars))
    pages = [text.page(), *_attachment_pages(attachments, max_pages, max_chars - text.chars)]
    subject = " ".join(str(message.get("Subject", "")).split())
    return Extracted(pages, subject, "email")


def _attachment_pages(
    attachments: list[tuple[str, bytes]], max_pages: int, max_chars: int
) -> list[Page]:
    """Each readable attachment's pages, page-less and headed by where they come from."""
    from rag_core.extract import extract, is_supported  # (this module is one of its)

    pages: list[Page] = []
    with tempfile.TemporaryDirectory(prefix="rag-attachment-") as work:
        for number, (name, data) in enumerate(attachments):
            if not is_supported(Path(name)) or Path(name).suffix.lower() == ".eml":
                continue  # (a message inside comes as message/rfc822: read above)
            file = Path(work) / f"{number}{Path(name).suffix.lower()}"
            file.write_bytes(data)
            try:
                read = extract(file, max_pages, max_chars)
            except RagError as exc:
                pages.append(Page(None, f"Attachment {name} could not be read: {exc}"))
                continue
            for page in read.pages:
                label = f"Attachment {name}" + (f", page {page.number}" if page.number else "")
                pages.append(
                    Page(
                        None,
                        page.text,
                        (
                            Heading(0, 0, label),
                            *(replace(h, level=h.level + 1) for h in page.headings),
                        ),
                        recognised=page.recognised,
                    )
                )
            max_chars -= sum(len(page.text) for page in read.pages)
    return pages


def _message(
    message: EmailMessage, text: TextBuilder, depth: int, attachments: list[tuple[str, bytes]]
) -> None:
    if depth:
        text.heading(min(depth, 5), f"Forwarded message: {message.get('Subject', '')}")
    text.add("\n".join(f"{name}: {message[name]}" for name in _SHOWN if message[name]))
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        content = _content(body)
        if body.get_content_type() == "text/html":
            content = html_page(content)[0].text
        text.add(content)
    names = []
    for part in message.iter_attachments():
        if not isinstance(part, EmailMessage):
            continue
        if part.get_content_type() == "message/rfc822" and depth < MAX_NESTING:
            inner = part.get_payload(0) if part.is_multipart() else None
            if isinstance(inner, EmailMessage):
                _message(inner, text, depth + 1, attachments)
                continue
        name = Path(part.get_filename() or "").name or part.get_content_type()
        names.append(name)
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and payload:
            attachments.append((name, payload))
    if names:
        text.add("Attachments: " + ", ".join(names))


def _content(part: MIMEPart) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset, a damaged encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""

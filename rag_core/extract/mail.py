"""E-mail (.eml): the headers staff look for (from, to, cc, date, subject) and the body
(its plain text, else its HTML as text) as one document; a forwarded message inside
it follows as part of the text; attachments are named, not read.  Title: the subject."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage, MIMEPart
from pathlib import Path

from rag_core.errors import ExtractionFailed
from rag_core.extract.common import Extracted, TextBuilder
from rag_core.extract.web import html_page
from rag_core.pdftext import too_many_chars

_SHOWN = ("From", "To", "Cc", "Date", "Subject")
MAX_NESTING = 5  # forwarded messages inside forwarded messages, read this deep


def read(path: Path, max_pages: int, max_chars: int) -> Extracted:
    if path.stat().st_size > max_chars * 4:
        raise ExtractionFailed(too_many_chars(max_chars))
    with path.open("rb") as handle:
        message = email.message_from_binary_file(handle, policy=email.policy.default)
    if not isinstance(message, EmailMessage) or not message.keys():
        raise ExtractionFailed("not an e-mail message (no headers)")
    text = TextBuilder()
    _message(message, text, depth=0)
    if text.chars > max_chars:
        raise ExtractionFailed(too_many_chars(max_chars))
    subject = " ".join(str(message.get("Subject", "")).split())
    return Extracted([text.page()], subject, "email")


def _message(message: EmailMessage, text: TextBuilder, depth: int) -> None:
    if depth:
        text.heading(min(depth, 5), f"Forwarded message: {message.get('Subject', '')}")
    text.add("\n".join(f"{name}: {message[name]}" for name in _SHOWN if message[name]))
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        content = _content(body)
        if body.get_content_type() == "text/html":
            content = html_page(content)[0].text
        text.add(content)
    attachments = []
    for part in message.iter_attachments():
        if not isinstance(part, EmailMessage):
            continue
        if part.get_content_type() == "message/rfc822" and depth < MAX_NESTING:
            inner = part.get_payload(0) if part.is_multipart() else None
            if isinstance(inner, EmailMessage):
                _message(inner, text, depth + 1)
                continue
        attachments.append(part.get_filename() or part.get_content_type())
    if attachments:
        text.add("Attachments: " + ", ".join(attachments))


def _content(part: MIMEPart) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset, a damaged encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""

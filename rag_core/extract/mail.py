"""E-mail: `.eml` (the standard library's parser) and Outlook's `.msg` (extract-msg).
The headers staff look for (from, to, cc, date, subject) and the body (its plain
text, else its HTML as text) as one document; a message forwarded inside it follows
as part of the text, under "Forwarded message: its subject".  Attachments of a type
we read come out as `Attachment`s: ingestion makes each a document of its own, linked
to the message (`rag_core.ingestion.attachments`).  Title: the subject."""

from __future__ import annotations

import email
import email.policy
import email.utils
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage, MIMEPart
from pathlib import Path
from typing import Any

from rag_core.errors import ExtractionFailed, FileRefused
from rag_core.extract.common import Attachment, Extracted, TextBuilder, refuse_larger_than
from rag_core.extract.pdftext import too_many_chars
from rag_core.extract.web import html_page

MAX_NESTING = 5  # forwarded messages inside forwarded messages, read this deep


@dataclass
class _Message:
    """What is read of a message, whichever its format."""

    subject: str
    headers: list[tuple[str, str]]  # (From, …), in the order shown
    body: str  # plain text
    attachments: list[Attachment] = field(default_factory=list)  # of a type we read
    attachment_names: list[str] = field(default_factory=list)  # all of them
    forwarded: list[_Message] = field(default_factory=list)


def read(path: Path, max_pages: int, max_chars: int) -> Extracted:
    """An .eml file."""
    refuse_larger_than(path, max_chars)
    with path.open("rb") as handle:
        message = email.message_from_binary_file(handle, policy=email.policy.default)
    if not isinstance(message, EmailMessage) or not message.keys():
        raise ExtractionFailed("not an e-mail message (no headers)")
    return _extracted(_from_email(message, 0), max_chars)


def read_msg(path: Path, max_pages: int, max_chars: int) -> Extracted:
    """An Outlook .msg file (an OLE compound file of MAPI properties)."""
    import extract_msg

    try:
        message = extract_msg.openMsg(str(path))
    except Exception as exc:  # extract-msg raises many kinds for a damaged file
        raise ExtractionFailed("damaged or unreadable Outlook message") from exc
    try:
        if not isinstance(message, extract_msg.msg_classes.MessageBase):
            raise ExtractionFailed(f"an Outlook item that is not a message ({message.classType})")
        read = _from_outlook(message, 0)
    except ExtractionFailed:
        raise
    except Exception as exc:
        raise ExtractionFailed("damaged or unreadable Outlook message") from exc
    finally:
        message.close()
    return _extracted(read, max_chars)


def _extracted(message: _Message, max_chars: int) -> Extracted:
    text = TextBuilder()
    attachments: list[Attachment] = []
    for depth, part in _walk(message, 0):
        if depth:
            text.heading(min(depth, 5), f"Forwarded message: {part.subject}")
        text.add("\n".join(f"{name}: {value}" for name, value in part.headers if value))
        text.add(part.body)
        if part.attachment_names:
            text.add("Attachments: " + ", ".join(part.attachment_names))
        attachments.extend(part.attachments)
    if text.chars > max_chars:
        raise FileRefused(too_many_chars(max_chars))
    subject = " ".join(message.subject.split())
    return Extracted([text.page()], subject, "email", tuple(attachments))


def _walk(message: _Message, depth: int) -> Iterator[tuple[int, _Message]]:
    yield depth, message
    for inner in message.forwarded:
        yield from _walk(inner, depth + 1)


def _from_email(message: EmailMessage, depth: int) -> _Message:
    shown = [(name, str(message[name] or "")) for name in ("From", "To", "Cc", "Date", "Subject")]
    body = ""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is not None:
        body = _content(part)
        if part.get_content_type() == "text/html":
            body = html_page(body)[0].text
    read = _Message(str(message.get("Subject", "")), shown, body)
    for attached in message.iter_attachments():
        if not isinstance(attached, EmailMessage):
            continue
        if attached.get_content_type() == "message/rfc822" and depth < MAX_NESTING:
            inner = attached.get_payload(0) if attached.is_multipart() else None
            if isinstance(inner, EmailMessage):
                read.forwarded.append(_from_email(inner, depth + 1))
                continue
        name = Path(attached.get_filename() or "").name or attached.get_content_type()
        _attach(read, name, attached.get_payload(decode=True))
    return read


def _from_outlook(message: Any, depth: int) -> _Message:
    from extract_msg.msg_classes import MessageBase

    sent = message.date
    shown = [
        ("From", message.sender or ""),
        ("To", message.to or ""),
        ("Cc", message.cc or ""),
        ("Date", email.utils.format_datetime(sent) if isinstance(sent, datetime) else ""),
        ("Subject", message.subject or ""),
    ]
    body = message.body or ""
    if not body.strip() and message.htmlBody:
        body = html_page(message.htmlBody.decode("utf-8", errors="replace"))[0].text
    read = _Message(message.subject or "", shown, body)
    for attached in message.attachments:
        data = attached.data
        if isinstance(data, MessageBase):
            if depth < MAX_NESTING:
                read.forwarded.append(_from_outlook(data, depth + 1))
            continue
        name = Path(attached.longFilename or attached.shortFilename or "").name or "attachment"
        _attach(read, name, data)
    return read


def _attach(message: _Message, name: str, data: object) -> None:
    """Named in the message; kept to be a document of its own if it is one we read (a
    message attached as a file is not: one inside comes as a forwarded message)."""
    message.attachment_names.append(name)
    from rag_core.extract import is_supported  # (this module is one of its readers)

    readable = is_supported(Path(name)) and Path(name).suffix.lower() not in {".eml", ".msg"}
    if readable and isinstance(data, bytes) and data:
        message.attachments.append(Attachment(name, data))


def _content(part: MIMEPart) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset, a damaged encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""

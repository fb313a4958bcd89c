"""/api/documents: upload (one file or a batch) into the drop folder, list with
filters, one document's detail, edit its details, retire (soft delete), restore and
re-index: the Documents page's operations, under the same rules."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile

from rag_core.access.accounts import Account
from rag_core.access.policy import Permission
from rag_core.api.auth import allowed, caller, services_of
from rag_core.api.errors import ApiError, not_found
from rag_core.api.schemas import DocumentEdit
from rag_core.library.actions import LibraryActionRefused, Upload
from rag_core.library.catalog import STATUSES, DocumentDetail, DocumentQuery, DocumentRow
from rag_core.services import Services

router = APIRouter(prefix="/api/documents", tags=["documents"])
Caller = Annotated[Account, Depends(caller)]
MAX_BATCH = 50


def _row(row: DocumentRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "title": row.title,
        "file": row.source,
        "attached_to": row.attached_to,  # the e-mail's subject, for an attachment
        "status": row.status,
        "error": row.error,
        "next": row.next_step(),  # for a failed file: "will try again in 2 min", ...
        "document_type": row.document_type,
        "tags": list(row.tags),
        "pages": row.pages,
        "passages": row.chunks,
        "version": row.version,
        "updated_at": row.updated_at.isoformat(),
        "progress": dict(zip(("done", "total", "unit"), row.progress, strict=True))
        if row.progress
        else None,
    }


def _uploaded(upload: Upload) -> dict[str, Any]:
    return {
        "file": str(upload.path),
        "status": "already there" if upload.duplicate_of else "queued",
        "duplicate_of": str(upload.duplicate_of) if upload.duplicate_of else None,
    }


@router.post("", status_code=201)
def upload(
    request: Request,
    person: Caller,
    file: Annotated[UploadFile, File(description="the file; its name is kept")],
    folder: Annotated[str, Form(description="a subfolder: the document type")] = "",
) -> dict[str, Any]:
    """Put one file into the drop folder (never over another file: "report (2).pdf");
    the watcher reads it.  Follow it with GET /api/documents?search=NAME."""
    allowed(person, Permission.UPLOAD)
    data = file.file.read()
    saved = services_of(request).library.upload(
        file.filename or "", data, folder or None, by=person.username
    )
    return _uploaded(saved)


@router.post("/batch", status_code=207)
def upload_batch(
    request: Request,
    person: Caller,
    files: Annotated[list[UploadFile], File(description="the files")],
    folder: Annotated[str, Form()] = "",
) -> dict[str, Any]:
    """Several files; each has its own outcome (a refused one does not stop the rest)."""
    allowed(person, Permission.UPLOAD)
    if len(files) > MAX_BATCH:
        raise ApiError(413, "too_many_files", f"At most {MAX_BATCH} files a batch.")
    outcomes = []
    for each in files:
        try:
            saved = services_of(request).library.upload(
                each.filename or "", each.file.read(), folder or None, by=person.username
            )
            outcomes.append({"name": each.filename, **_uploaded(saved)})
        except LibraryActionRefused as exc:
            outcomes.append({"name": each.filename, "status": "refused", "error": str(exc)})
    return {"files": outcomes}


@router.get("")
def list_documents(
    request: Request,
    person: Caller,
    status: Annotated[str | None, Query(description=f"one of {', '.join(STATUSES)}")] = None,
    document_type: Annotated[str | None, Query(alias="type")] = None,
    tag: str | None = None,
    folder: Annotated[str | None, Query(description="the drop folder's subfolder")] = None,
    search: Annotated[str, Query(max_length=200, description="words of title or file")] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """The files of the library, most recently changed first."""
    allowed(person, Permission.READ_DOCUMENTS)
    if status is not None and status not in STATUSES:
        raise ApiError(422, "invalid", f"status: one of {', '.join(STATUSES)}.")
    services = services_of(request)
    query = DocumentQuery(
        search=search,
        status=status,
        document_type=document_type or folder,  # a subfolder names the type
        tag=tag,
        limit=limit,
        offset=offset,
    )
    page = services.catalog.find(query)
    return {"total": page.total, "documents": [_row(row) for row in page.rows]}


@router.get("/{document_id}")
def document_detail(
    request: Request,
    person: Caller,
    document_id: int,
    passages: Annotated[int, Query(ge=0, le=1000, description="this many passages too")] = 0,
    passages_from: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Details, files, passages (their count; `passages=N`: N of them, from
    `passages_from`), versions, status and the reason of a failure."""
    allowed(person, Permission.READ_DOCUMENTS)
    catalog = services_of(request).catalog
    detail = _detail(services_of(request), document_id)
    shown = asdict(detail)
    shown["files"] = [{"path": path, "present": present} for path, present in detail.files]
    shown["versions"] = [
        {"id": i, "version": v, "status": s, "created_at": c.isoformat()}
        for i, v, s, c in detail.versions
    ]
    shown["created_at"] = detail.created_at.isoformat()
    shown["updated_at"] = detail.updated_at.isoformat()
    if passages:
        shown["passage_texts"] = [
            {"index": i, "page": first, "page_end": last, "section": section, "text": text}
            for i, first, last, section, text in catalog.passages(
                document_id, passages, passages_from
            )
        ]
    return shown


def _detail(services: Services, document_id: int) -> DocumentDetail:
    detail = services.catalog.detail(document_id)
    if detail is None:
        raise not_found(f"document {document_id}")
    return detail


def _file_of(services: Services, document_id: int) -> Path:
    """The file that holds the document now (404 for no such document, 409 when no
    file holds it any more)."""
    path = services.catalog.document_file(document_id)
    if path is None:
        _detail(services, document_id)  # 404 first, if there is no such document
        raise ApiError(409, "no_file", "No file in the drop folder holds this document now.")
    return path


@router.patch("/{document_id}")
def edit(request: Request, person: Caller, document_id: int, body: DocumentEdit) -> dict[str, Any]:
    """Set title, type and tags (written to the file's sidecar, applied at once, not
    re-embedded).  A field left out keeps its value; "" goes back to the default."""
    allowed(person, Permission.EDIT)
    services = services_of(request)
    path = _file_of(services, document_id)
    detail = _detail(services, document_id)
    title = detail.title if body.title is None else body.title
    result = services.library.edit(
        path,
        title="" if title == path.name else title,
        document_type=detail.document_type or ""
        if body.document_type is None
        else body.document_type,
        tags=list(detail.tags) if body.tags is None else body.tags,
        by=person.username,
    )
    return {"id": result.document_id, "outcome": result.outcome.value, "message": result.message}


@router.delete("/{document_id}")
def retire(request: Request, person: Caller, document_id: int) -> dict[str, Any]:
    """Take it out of search: its file moves to the drop folder's .retired/, kept and
    restorable (POST …/restore)."""
    allowed(person, Permission.RETIRE)
    services = services_of(request)
    retired = services.library.retire(_file_of(services, document_id), by=person.username)
    return {"retired": str(retired.original), "kept_at": str(retired.path)}


@router.post("/{document_id}/restore")
def restore(request: Request, person: Caller, document_id: int) -> dict[str, Any]:
    """Put a retired document's file back where it was; the watcher reads it again."""
    allowed(person, Permission.RESTORE)
    services = services_of(request)
    paths = {Path(path) for path, _ in _detail(services, document_id).files}
    kept = [r for r in services.library.retired() if r.original in paths]
    if not kept:
        raise ApiError(409, "not_retired", "This document has no retired file to restore.")
    return {"restored": str(services.library.restore(kept[0].path, by=person.username))}


@router.post("/{document_id}/reindex", status_code=202)
def reindex(request: Request, person: Caller, document_id: int) -> dict[str, Any]:
    """Read and embed its file again; it stays searchable meanwhile."""
    allowed(person, Permission.REINDEX)
    services = services_of(request)
    path = _file_of(services, document_id)
    services.library.reindex(path, by=person.username)
    return {"queued": str(path)}

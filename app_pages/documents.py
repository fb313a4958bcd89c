"""Documents: every file in the library with its status; upload, edit, re-index,
retire and restore; live progress and the reason for each failure, with retry."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

import streamlit as st

from app_pages.shared import (
    attempt,
    done,
    escape,
    flash,
    library_status,
    note,
    permitted,
    pick_page,
    services_or_stop,
    show_flashes,
    stamp,
    user,
)
from rag_core.access import policy
from rag_core.access.policy import Permission
from rag_core.extract import SUPPORTED_SUFFIXES
from rag_core.library.catalog import STATUSES, DocumentQuery, DocumentRow
from rag_core.services import Services

PAGE_SIZE = 25
NEW_FOLDER = "New folder…"


def upload_panel(services: Services) -> None:
    with st.expander("Add files", expanded=False), st.form("upload", clear_on_submit=True):
        files = st.file_uploader(
            "Files to add",
            type=sorted(suffix.lstrip(".") for suffix in SUPPORTED_SUFFIXES),
            accept_multiple_files=True,
            help=f"Up to {services.settings.max_file_mb:g} MB each.",
        )
        types = services.catalog.document_types()
        folder = st.selectbox(
            "Document type (the drop-folder subfolder it goes into)",
            [*types, NEW_FOLDER],
            index=None,
            placeholder="None (top of the drop folder)",
        )
        new_folder = st.text_input("New folder name", placeholder="e.g. contracts")
        if st.form_submit_button("Add to library", type="primary") and files:
            chosen = new_folder.strip() if folder == NEW_FOLDER else folder
            failed = False
            for file in files:
                upload = attempt(
                    partial(
                        services.library.upload,
                        file.name,
                        file.getvalue(),
                        chosen,
                        by=user().username,
                    ),
                    f"adding {file.name}",
                )
                if upload is None:
                    failed = True
                elif upload.duplicate_of is not None:
                    note(f"{file.name} is already in the library, unchanged.", "info")
                else:
                    note(f"{upload.path.name} added; it is being read now.")
            if not failed:
                st.rerun()


def filters_row(services: Services) -> DocumentQuery:
    search, status, kind, tag = st.columns([3, 1, 1, 1])
    return DocumentQuery(
        search=search.text_input("Search titles", placeholder="Words in the title or file name"),
        status=status.selectbox("Status", STATUSES, index=None, placeholder="Any status"),
        document_type=kind.selectbox(
            "Type", services.catalog.document_types(), index=None, placeholder="Any type"
        ),
        tag=tag.selectbox("Tag", services.catalog.tags(), index=None, placeholder="Any tag"),
        limit=PAGE_SIZE,
    )


def table(rows: list[DocumentRow]) -> None:
    st.dataframe(
        [
            {
                "Title": row.title,
                "Status": row.status,
                "Type": row.document_type or "",
                "Tags": ", ".join(row.tags),
                "Pages": row.pages,
                "Passages": row.chunks,
                "Version": row.version,
                "Updated": row.updated_at.astimezone().strftime("%Y-%m-%d %H:%M"),
                "Problem": row.error or "",
                "Next": row.next_step() or "",
                "File": f"attached to “{row.attached_to}”: {Path(row.source).name}"
                if row.attached_to
                else row.source,
            }
            for row in rows
        ],
        hide_index=True,
        width="stretch",
    )


def actions(services: Services, rows: list[DocumentRow]) -> None:
    row = st.selectbox(
        "Document to change",
        rows,
        index=None,
        format_func=lambda r: f"{r.title} ({r.status})",
        placeholder="Pick a document from this page",
    )
    if row is None:
        return
    source = Path(row.source)
    if row.error:
        step = row.next_step()
        st.error(f"{row.title}: {row.error}" + (f" ({step})" if step else ""))
    with st.form(f"edit:{row.source}"):
        st.markdown(f"**Details of** `{escape(source.name)}`")
        title = st.text_input("Title", value=row.title if row.title != source.name else "")
        kind = st.text_input("Type", value=row.document_type or "")
        tags = st.text_input("Tags (comma separated)", value=", ".join(row.tags))
        if st.form_submit_button("Save details"):
            result = attempt(
                lambda: services.library.edit(
                    source,
                    title=title,
                    document_type=kind,
                    tags=tags.split(","),
                    by=user().username,
                ),
                f"saving the details of {source.name}",
            )
            if result is not None:
                flash(f"Saved the details of {source.name}.")
    reindex, retire = st.columns(2)
    with reindex:
        if st.button(
            "Re-index", help="Read and embed the file again; it stays searchable."
        ) and done(
            lambda: services.library.reindex(source, by=user().username),
            f"re-indexing {source.name}",
        ):
            flash(f"{source.name} is queued to be read again; it stays searchable meanwhile.")
    with retire:
        if not policy.allowed(user(), Permission.RETIRE):
            st.caption("Retiring a file is for administrators.")
            return
        sure = st.checkbox(f"Yes, take {source.name} out of search")
        if st.button("Retire", disabled=not sure, help="Moved to the drop folder's .retired/"):
            retired = attempt(
                lambda: services.library.retire(source, by=permitted(Permission.RETIRE).username),
                f"retiring {source.name}",
            )
            if retired is not None:
                flash(f"{source.name} is retired from search; it is kept in {retired.path.parent}.")


def restore(services: Services, path: Path) -> Path:
    return services.library.restore(path, by=permitted(Permission.RESTORE).username)


def retired_panel(services: Services) -> None:
    retired = services.library.retired()
    if not retired or not policy.allowed(user(), Permission.RESTORE):
        return
    with st.expander(f"Retired files ({len(retired)})"):
        for file in retired:
            left, right = st.columns([4, 1])
            left.markdown(f"**{escape(file.original.name)}** — retired {stamp(file.retired_at)}")
            if right.button("Restore", key=f"restore:{file.path}"):
                restored = attempt(
                    partial(restore, services, file.path),
                    f"restoring {file.original.name}",
                )
                if restored is not None:
                    flash(f"{restored.name} is back and being read again.")


def main() -> None:
    services = services_or_stop()
    st.title("Documents")
    show_flashes()
    library_status(services)
    upload_panel(services)
    query = filters_row(services)
    total = services.catalog.find(replace(query, limit=0), count_chunks=False).total
    page = pick_page(total, PAGE_SIZE)
    listing = services.catalog.find(replace(query, offset=page.offset))
    noun = "document" if listing.total == 1 else "documents"
    st.caption(f"{listing.total:,} {noun} · {page.label}")
    table(listing.rows)
    actions(services, listing.rows)
    retired_panel(services)


main()

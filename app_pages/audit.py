"""Audit (administrators only): the append-only record of sign-ins, questions with
the documents and pages shown, uploads, edits, retirements and account changes;
filter it and export it as CSV."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

import streamlit as st

from app_pages.shared import (
    date_range,
    permitted,
    permitted_only,
    pick_page,
    services_or_stop,
    stamp,
)
from rag_core.access.audit import Action, AuditQuery, AuditTrail
from rag_core.access.policy import Permission

PAGE_SIZE = 50


def filters_row() -> AuditQuery:
    who, what, when = st.columns(3)
    username = who.text_input("Person", placeholder="Any")
    action = what.selectbox("Action", [a.value for a in Action], index=None, placeholder="Any")
    since, until = date_range(when.date_input("Between", value=[], format="YYYY-MM-DD"))
    return AuditQuery(
        username=username.strip().lower() or None, action=action, since=since, until=until
    )


def exported(audit: AuditTrail, query: AuditQuery) -> str:
    return audit.export_csv(query, by=permitted(Permission.READ_AUDIT).username)


def main() -> None:
    services = services_or_stop()
    permitted_only(Permission.READ_AUDIT)
    st.title("Audit trail")
    st.caption("Every row is permanent: the database refuses to change or delete them.")
    query = filters_row()
    total = services.audit.find(replace(query, limit=0)).total
    left, right = st.columns([1, 3])
    page = pick_page(total, PAGE_SIZE, left)
    listing = services.audit.find(replace(query, offset=page.offset))
    right.download_button(
        "Export to CSV",
        data=lambda: exported(services.audit, query),
        file_name=f"audit-{datetime.now():%Y%m%d-%H%M}.csv",
        mime="text/csv",
        help="Every record matching the filters, all pages (the export is recorded too).",
    )
    st.caption(f"{listing.total:,} record(s) · {page.label}")
    if not listing.records:
        st.info("No records match.")
        return
    st.dataframe(
        [
            {
                "when": stamp(r.at),
                "person": r.username or "(system)",
                "action": r.action,
                "outcome": r.outcome,
                "detail": json.dumps(r.detail, ensure_ascii=False),
            }
            for r in listing.records
        ],
        hide_index=True,
        width="stretch",
    )


main()

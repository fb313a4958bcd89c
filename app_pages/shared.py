"""What the pages share: the one set of services, the library status panel, and how a
failure is shown.  Rendering only; every decision is made in rag_core."""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from rag_core import offline
from rag_core.access import policy
from rag_core.access.accounts import SignedIn
from rag_core.access.phi_logs import configure_logging
from rag_core.db.models import Role
from rag_core.errors import RagError
from rag_core.library.history import PastQuestion
from rag_core.services import Services, build_services
from rag_core.settings import Settings

log = logging.getLogger("app")
T = TypeVar("T")

GENERIC_FAILURE = "Something went wrong. The details are in the appliance's log."


@st.cache_resource(show_spinner="Starting the database…")
def get_services() -> Services:
    """One set of services per process, shared by every browser session (it holds no
    per-user state)."""
    settings = Settings()
    configure_logging(settings)
    offline.warn_about_leftovers()
    services = build_services(settings)
    # Load the models while the first page is read; a question asked meanwhile waits
    # for them rather than loading them twice.
    threading.Thread(target=services.warm_up, name="warm-up", daemon=True).start()
    return services


def services_or_stop() -> Services:
    """The services, or a plain message (database not reachable, a bad setting) and
    nothing else on the page."""
    try:
        return get_services()
    except RagError as exc:
        log.error("cannot start: %s", exc)
        st.error(str(exc))
        st.stop()
    raise AssertionError("st.stop() returns only under test")  # pragma: no cover


# With sign-in off (allowed on 127.0.0.1 only) the one person at this machine.
LOCAL_USER = SignedIn("local", Role.ADMIN, datetime.min, datetime.min)
_SESSION_KEY = "signed_in"


def signed_in(services: Services) -> SignedIn | None:
    """Who this browser session belongs to, or None until someone signs in.  Checked
    on every page load: an expired session, or one whose account was disabled or
    changed role, ends here."""
    if not services.settings.auth_enabled:
        return LOCAL_USER
    current = st.session_state.get(_SESSION_KEY)
    if current is None:
        return None
    valid = services.accounts.still_valid(current, datetime.now().astimezone())
    if valid is None:
        del st.session_state[_SESSION_KEY]
        note("Your session has ended. Please sign in again.", "info")
    else:
        st.session_state[_SESSION_KEY] = valid
    return valid


def sign_in(signed: SignedIn) -> None:
    st.session_state[_SESSION_KEY] = signed


def sign_out(services: Services) -> None:
    current = st.session_state.pop(_SESSION_KEY, None)
    if current is not None:
        services.accounts.sign_out(current)


def user() -> SignedIn:
    """The person using this page (app.py lets no page run without one)."""
    current = st.session_state.get("user")
    assert isinstance(current, SignedIn), "app.py sets the user before any page runs"
    return current


def permitted(permission: policy.Permission) -> SignedIn:
    """The person using this page, who must be allowed `permission` (AccessDenied,
    shown as a sentence by `attempt`, otherwise): `rag_core.access.policy` decides."""
    person = user()
    policy.require(person, permission)
    return person


def permitted_only(permission: policy.Permission) -> None:
    """Stop the page, with a sentence, unless the person using it is allowed
    `permission` (the navigation offers such pages only to them; this is the second
    lock)."""
    if attempt(lambda: permitted(permission), "opening this page") is None:
        st.stop()


def attempt(action: Callable[[], T], what: str) -> T | None:
    """Run a user's action; a refusal or failure is shown as a sentence, never a
    traceback.  `what` names the action for the log and the generic message."""
    try:
        return action()
    except RagError as exc:
        log.warning("%s refused: %s", what, exc)
        st.error(str(exc))
    except Exception:
        log.exception("%s failed", what)
        st.error(f"{what.capitalize()} failed. The details are in the appliance's log.")
    return None


def done(action: Callable[[], object], what: str) -> bool:
    """`attempt` for an action run for its effect: True when it succeeded."""

    def run() -> bool:
        action()
        return True

    return attempt(run, what) is not None


def note(message: str, kind: str = "success") -> None:
    """Show `message` at the top of the page when it is next drawn."""
    st.session_state.setdefault("flash", []).append((kind, message))


def flash(message: str, kind: str = "success") -> None:
    """Redraw the page now (it shows the change) with `message` at the top."""
    note(message, kind)
    st.rerun()


def show_flashes() -> None:
    for kind, message in st.session_state.pop("flash", []):
        getattr(st, kind)(message)


@dataclass(frozen=True)
class PagePick:
    offset: int  # of the first row on the chosen page
    label: str  # "page n of m"


def pick_page(total: int, page_size: int, where: Any = st) -> PagePick:
    """A page-number input (in `where`: the page or one of its columns) for `total`
    rows shown `page_size` at a time."""
    pages = max(1, math.ceil(total / page_size))
    number = int(where.number_input("Page", min_value=1, max_value=pages, value=1, step=1))
    return PagePick((number - 1) * page_size, f"page {number} of {pages}")


def date_range(picked: object) -> tuple[datetime | None, datetime | None]:
    """The date picker's days as a half-open range of local times (one day picked:
    from that day on)."""
    days = list(picked) if isinstance(picked, tuple | list) else []
    if not days:
        return None, None
    start = datetime.combine(days[0], time.min).astimezone()
    if len(days) < 2:
        return start, None
    return start, datetime.combine(days[1] + timedelta(days=1), time.min).astimezone()


@st.fragment(run_every=5)
def library_status(services: Services) -> None:
    """Whether ingestion is running, counts, progress of files being read, and
    failures; refreshed every few seconds while the page is open.  While the database
    is away it says so, and comes back by itself when the database does."""
    try:
        health = services.liveness.health()
        counts = services.catalog.status_counts()
        rows = services.catalog.documents()
        outlook = services.backlog.outlook()
        change = services.model_change.progress()
    except RagError as exc:
        log.warning("library status: %s", exc)
        st.warning(str(exc))
        return
    summary = health.summary(datetime.now().astimezone())
    if health.running:
        st.caption(summary)
    else:
        st.warning(summary, icon=":material/sync_problem:")
    ready, failed = st.columns(2)
    ready.metric("Ready", counts.ready)
    failed.metric("Failed", counts.failed)
    queued, processing = st.columns(2)
    queued.metric("Queued", counts.queued)
    processing.metric("Processing", counts.processing)
    st.caption(f"{counts.chunks:,} passages · drop folder `{services.settings.drop_dir}`")
    waiting = outlook.summary()
    if waiting:
        st.caption(waiting)
    if change is not None:
        st.progress(change.done / max(change.total, 1), text=change.line())
    for row in rows:
        if row.progress is not None:
            done, total, unit = row.progress
            st.progress(done / max(total, 1), text=f"{row.title}: {done}/{total} {unit}")
    failures = [row for row in rows if row.status == "failed"]
    if failures:
        with st.expander(f"Failed files ({len(failures)})"):
            for row in failures:
                st.markdown(
                    f"**{escape(row.title)}** — {escape(row.error or '')} "
                    f"_({escape(row.next_step() or '')})_"
                )
                st.button(
                    "Retry",
                    key=f"retry:{row.source}",
                    on_click=retry,
                    args=(services, [Path(row.source)]),
                )
            if len(failures) > 1:
                st.button("Retry all", key="retry:all", on_click=retry, args=(services, None))


def retry(services: Services, paths: list[Path] | None) -> None:
    """A retry button's action; it runs before the page redraws, so the counts show it."""
    queued = attempt(lambda: services.retry_failed(paths), "queueing a retry")
    if queued is not None:
        st.toast(f"{len(queued)} file(s) queued for another try; the watcher picks them up.")


def stamp(moment: datetime) -> str:
    """A time as a person reads it, in the appliance's local time zone."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def show_similar(similar: list[PastQuestion]) -> None:
    if not similar:
        return
    with st.expander(f"Similar past questions ({len(similar)})"):
        for past in similar:
            st.markdown(f"**{escape(past.question)}** — {stamp(past.asked_at)}")
            st.caption(escape((past.answer or "")[:400]))


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:])")


def escape(text: str) -> str:
    """Text shown as itself in st.markdown (no emphasis, links, LaTeX or colours)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)

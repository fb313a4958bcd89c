"""Administration from the command line: `python -m rag_core users ...`, `backup`,
`restore`.  These open the database only (no models), and every change is written to
the audit trail as `cli:<login name>`."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag_core.access.accounts import Accounts
from rag_core.access.audit import Action, AuditTrail, command_line_user
from rag_core.access.tokens import Tokens
from rag_core.db import Database, open_database
from rag_core.db.engine import embedded_server_url
from rag_core.db.models import Role
from rag_core.errors import RagError
from rag_core.settings import Settings


def add_commands(sub: Any) -> None:
    users = sub.add_parser("users", help="manage the accounts that may sign in")
    verbs = users.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", help="add an account (asks for its password)")
    add.add_argument("username")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.STAFF.value)
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    verbs.add_parser("list", help="list the accounts")
    for verb, text in (("disable", "stop an account signing in"), ("enable", "allow it again")):
        verbs.add_parser(verb, help=text).add_argument("username")
    reset = verbs.add_parser("reset-password", help="give an account a new password")
    reset.add_argument("username")
    reset.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    token = verbs.add_parser("token", help="personal tokens for the HTTP API (rag_core.api)")
    token_verbs = token.add_subparsers(dest="token_verb", required=True)
    create = token_verbs.add_parser("create", help="make a token for USERNAME; printed once")
    create.add_argument("username")
    create.add_argument("--name", default="api", help="what uses it (default: api)")
    create.add_argument(
        "--expires-days", type=float, default=None, help="lifetime in days (default: none)"
    )
    listing = token_verbs.add_parser("list", help="the tokens (of USERNAME)")
    listing.add_argument("username", nargs="?")
    revoke = token_verbs.add_parser("revoke", help="stop USERNAME's token(s) working at once")
    revoke.add_argument("username")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--name", help="the token of this name")
    which.add_argument("--all", action="store_true", help="every token of USERNAME")
    verbs.add_parser(
        "first-admin",
        help="when no account exists yet, create `admin` with a random password and print "
        "it once (`make run` does this)",
    )

    backup = sub.add_parser(
        "backup", help="write the database and the drop folder's files to one tar file"
    )
    backup.add_argument("path", type=Path, metavar="PATH")
    backup.add_argument(
        "--no-files",
        action="store_true",
        help="the database only, not the drop folder's files (nor attachments)",
    )
    restore = sub.add_parser(
        "restore", help="load a backup into this appliance (its library must be empty)"
    )
    restore.add_argument("path", type=Path, metavar="PATH")
    restore.add_argument(
        "--replace", action="store_true", help="overwrite a library that is not empty"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command in ("backup", "restore"):
        return _backup_or_restore(args, settings)
    db = _open(settings)
    try:
        from rag_core.services import account_params

        audit = AuditTrail(db)
        if args.verb == "token":
            return _tokens(args, Tokens(db, audit))
        accounts = Accounts(db, audit, account_params(settings))
        return _users(args, accounts)
    finally:
        db.dispose()


def _users(args: argparse.Namespace, accounts: Accounts) -> int:
    by = command_line_user()
    if args.verb == "add":
        password = _new_password(args.password_stdin)
        account = accounts.add(args.username, password, Role(args.role), by=by)
        print(f"added     {account.username} ({account.role})")
    elif args.verb == "list":
        for account in accounts.list():
            state = "active" if account.active else "disabled"
            last = (
                account.last_login_at.strftime("%Y-%m-%d %H:%M") if account.last_login_at else "-"
            )
            print(f"{account.username:<24} {account.role:<6} {state:<9} last sign-in {last}")
    elif args.verb in ("disable", "enable"):
        accounts.set_active(args.username, args.verb == "enable", by=by)
        print(f"{args.verb}d  {args.username.lower()}")
    elif args.verb == "reset-password":
        accounts.reset_password(args.username, _new_password(args.password_stdin), by=by)
        print(f"new password set for {args.username.lower()}")
    elif args.verb == "first-admin":
        if accounts.count():
            print("accounts exist already; nothing done")
            return 0
        password = secrets.token_urlsafe(12)
        accounts.add("admin", password, Role.ADMIN, by=by)
        print(
            "Created the first administrator account.\n"
            f"  name:     admin\n  password: {password}\n"
            "This password is shown once and stored only as a hash: write it down, sign "
            "in, and add accounts for staff under Users (or `python -m rag_core users add`)."
        )
    return 0


def _tokens(args: argparse.Namespace, tokens: Tokens) -> int:
    by = command_line_user()
    now = datetime.now(UTC)
    if args.token_verb == "create":
        token, info = tokens.create(
            args.username, args.name, expires_in_days=args.expires_days, by=by
        )
        expires = (
            f"expires {info.expires_at:%Y-%m-%d %H:%M} UTC" if info.expires_at else "no expiry"
        )
        print(
            f"token for {info.username} ({info.name}, {expires}):\n  {token}\n"
            "Shown once and stored only as a hash: give it to the program that uses it."
        )
        return 0
    listed = tokens.list(args.username)
    if args.token_verb == "list":
        for info in listed:
            used = f"{info.last_used_at:%Y-%m-%d %H:%M}" if info.last_used_at else "-"
            print(
                f"{info.id:>5} {info.username:<20} {info.name:<20} {info.prefix}… "
                f"{info.state(now):<8} last used {used}"
            )
        return 0
    chosen = [i for i in listed if args.all or i.name == args.name]
    chosen = [i for i in chosen if i.state(now) == "active"]
    if not chosen:
        raise RagError(f"{args.username} has no active token of that name.")
    for info in chosen:
        tokens.revoke(info.id, by=by)
        print(f"revoked   {info.username}'s token {info.name} ({info.prefix}…)")
    return 0


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != first:
        raise RagError("The two passwords differ; nothing was changed.")
    return first


def _backup_or_restore(args: argparse.Namespace, settings: Settings) -> int:
    from rag_core.library.backup import backup, restore

    owner_url = settings.database_url or embedded_server_url(
        settings.data_dir, settings.database_name
    )
    if args.command == "backup":
        _open(settings).dispose()  # brings the schema up to date before dumping it
        summary = backup(
            owner_url,
            settings.drop_dir,
            args.path,
            with_files=not args.no_files,
            attachments_dir=settings.attachments_dir,
        )
        _audit(settings, Action.BACKUP, {"path": str(summary.path), "files": summary.files})
        print(
            f"backup    {summary.path} ({summary.files} files, "
            f"{summary.bytes / 1e6:.1f} MB, {summary.seconds:.1f} s)"
        )
        return 0
    summary_r = restore(
        owner_url,
        settings.drop_dir,
        args.path,
        replace=args.replace,
        attachments_dir=settings.attachments_dir,
    )
    _audit(settings, Action.RESTORE_BACKUP, {"path": str(args.path.absolute())})
    print(
        f"restored  {args.path} ({summary_r.files_restored} files put back, "
        f"{summary_r.files_already_there} already there, {summary_r.seconds:.1f} s)"
    )
    return 0


def _open(settings: Settings) -> Database:
    """The library's database, migrated, as the appliance's own role (no models)."""
    return open_database(
        settings.database_url,
        settings.data_dir,
        settings.database_name,
        settings.text_search_config,
        as_app_role=True,
    )


def _audit(settings: Settings, action: Action, detail: dict[str, Any]) -> None:
    db = _open(settings)
    try:
        AuditTrail(db).record(command_line_user(), action, detail)
    finally:
        db.dispose()

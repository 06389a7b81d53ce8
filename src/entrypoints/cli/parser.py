"""The ``modelhub`` command line: its commands, their options, the argument types."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

from domain.catalogue import CATALOGUES
from domain.errors import Invalid
from domain.filters import parse_timestamp
from domain.services.stats import DEFAULT_TOP
from domain.validation import is_http_url
from entrypoints.bootstrap import Registry
from entrypoints.cli import maintenance, migrate, mirror, stats, upstream, users

DEFAULT_CONFIG = "development.ini"

Handler = Callable[[Registry, argparse.Namespace, TextIO], int]
"""A command: given the composition root, its arguments and stdin; returns the exit status."""


def build_parser() -> argparse.ArgumentParser:
    """Every command sets ``handler``, the function ``main`` runs, and
    ``needs_schema``, false only for the command that creates the schema."""
    parser = argparse.ArgumentParser(
        prog="modelhub", description="modelhub batch scripts: the API's rules from the shell."
    )
    parser.add_argument(
        "-c",
        "--config",
        default=DEFAULT_CONFIG,
        help=f"the ini file (default: {DEFAULT_CONFIG})",
    )
    parser.set_defaults(needs_schema=True)
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    _command(
        commands,
        "initdb",
        maintenance.initdb,
        "create or upgrade the schema and seed it (safe to rerun)",
        needs_schema=False,
    )

    user_help = "manage accounts (passwords are read from the terminal)"
    user = commands.add_parser("user", help=user_help, description=user_help)
    actions = user.add_subparsers(title="user commands", required=True, metavar="ACTION")
    add = _command(
        actions,
        "add",
        users.add,
        "create an account",
        "Create an account; the password is read from the terminal, "
        "or from the first line of stdin when it is not one.",
    )
    add.add_argument("name")
    add_account_options(add)
    passwd = _command(
        actions,
        "passwd",
        users.passwd,
        "set an account's password (revokes its tokens)",
        "Set a password, read as for `user add`; every token of the account stops working.",
    )
    passwd.add_argument("name")
    deactivate = _command(
        actions,
        "deactivate",
        users.deactivate,
        "deactivate an account (revokes its tokens)",
        "Deactivate an account: it can no longer log in and its tokens stop working.",
    )
    deactivate.add_argument("name")

    imp = _command(
        commands,
        "import",
        mirror.import_manifest,
        "import models from a JSON manifest (local files or URLs) or a catalogue",
        "Import models from a JSON manifest, or the frameworks and models of a catalogue "
        "shipped with modelhub (their files stay upstream until a client asks).",
    )
    what = imp.add_mutually_exclusive_group(required=True)
    what.add_argument("manifest", nargs="?", help="a JSON list of models (see the README)")
    what.add_argument(
        "--catalogue",
        choices=sorted(CATALOGUES),
        help="instead of a manifest: ufdl, the UFDL server's frameworks and models",
    )
    imp.add_argument(
        "--dry-run", action="store_true", help="check every entry, change and download nothing"
    )

    export = _command(
        commands,
        "export",
        mirror.export_manifest,
        "write the active models as an importable manifest",
    )
    export.add_argument("--files", metavar="DIR", help="also copy the model files into DIR")
    export.add_argument(
        "-o", "--output", metavar="FILE", help="write the manifest to FILE (default: stdout)"
    )

    fetch = _command(
        commands,
        "fetch",
        upstream.fetch,
        "store models' upstream files now, before anyone downloads them",
    )
    fetch.add_argument("pks", nargs="*", type=int, metavar="PK", help="the models to fetch")
    fetch.add_argument(
        "--all", action="store_true", help="every active model whose file is upstream only"
    )

    mig = _command(
        commands,
        "migrate",
        migrate.migrate,
        "copy licences, frameworks and models from a running UFDL or modelhub server",
        "Copy the licences, frameworks and pretrained models (files and soft-deleted ones "
        "included) of a running UFDL or modelhub server, keeping their pks where they are "
        "free here; running it again changes nothing. The password is read from the "
        "terminal, or from the first line of stdin when it is not one.",
    )
    mig.add_argument(
        "--from",
        dest="source",
        required=True,
        type=http_url,
        metavar="URL",
        help="the server, e.g. http://ufdl.example:8000",
    )
    mig.add_argument("--user", required=True, metavar="NAME", help="an account on that server")

    verify = _command(
        commands, "verify", maintenance.verify, "re-hash every file and compare with the database"
    )
    verify.add_argument(
        "--repair",
        action="store_true",
        help="first set every reference count to the number of models using the bytes",
    )

    gc = _command(
        commands, "gc", maintenance.gc, "remove unreferenced files and stale temporary files"
    )
    gc.add_argument("--dry-run", action="store_true", help="only show what would be freed")
    gc.add_argument(
        "--grace",
        type=non_negative_int,
        default=3600,
        metavar="SECONDS",
        help="spare files younger than this (default: 3600)",
    )

    purge = _command(
        commands, "purge", maintenance.purge, "hard-delete models soft-deleted before a date"
    )
    purge.add_argument(
        "--deleted-before",
        required=True,
        type=timestamp,
        metavar="DATE",
        help="an ISO date or time, e.g. 2026-01-31 or 2026-01-31T12:00:00+01:00 (UTC if no zone)",
    )
    purge.add_argument("--dry-run", action="store_true", help="only list what would be purged")

    usage = _command(
        commands,
        "stats",
        stats.stats,
        "show the downloads served and the bytes fetched upstream, and the top models",
    )
    usage.add_argument(
        "--top",
        type=non_negative_int,
        default=DEFAULT_TOP,
        metavar="N",
        help=f"list the N models served most (default: {DEFAULT_TOP})",
    )
    return parser


def _command(
    group: Any,
    name: str,
    handler: Handler,
    help: str,
    description: str | None = None,
    **defaults: Any,
) -> argparse.ArgumentParser:
    """Add the command ``name`` to ``group``, run by ``handler``."""
    sub: argparse.ArgumentParser = group.add_parser(
        name, help=help, description=description or help
    )
    sub.set_defaults(handler=handler, **defaults)
    return sub


# -- arguments the one-step scripts (initdb.py, create_user.py) share --------


def add_config_file(parser: argparse.ArgumentParser) -> None:
    """The ini file as an optional first argument."""
    parser.add_argument("config_uri", nargs="?", default=DEFAULT_CONFIG)


def add_account_options(parser: argparse.ArgumentParser) -> None:
    """The options of a new account: ``--admin`` and ``--email``."""
    parser.add_argument("--admin", action="store_true", help="make the account an admin")
    parser.add_argument("--email", default="", help="the account's email address")


# -- argument types -----------------------------------------------------------


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def http_url(text: str) -> str:
    """An absolute http(s) URL, without a trailing slash."""
    if not is_http_url(text):
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {text!r}")
    return text.rstrip("/")


def timestamp(text: str) -> datetime:
    """An ISO 8601 date or time, in UTC (a time without a zone is taken as UTC)."""
    try:
        return parse_timestamp(text)
    except Invalid:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from None

"""``modelhub``: the batch scripts, one subcommand each.

Every subcommand reads the ini file, builds the same composition root as the
web app, and calls the domain services inside a transaction: this module
parses arguments, calls, and prints. It holds no rule, no SQL and no file
handling of its own.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from domain.errors import DomainError, Invalid, NotFound
from domain.permissions import SYSTEM
from entrypoints.bootstrap import Registry
from entrypoints.cli.common import registry_from
from entrypoints.settings import SettingsError

log = logging.getLogger(__name__)

Handler = Callable[[Registry, argparse.Namespace, TextIO], int]


class CommandError(Exception):
    """A failure to report as one ``error:`` line and exit status 1."""


def main(argv: list[str] | None = None, stdin: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not Path(args.config).is_file():
        print(f"error: no ini file {args.config!r} (give one with -c)", file=sys.stderr)
        return 2
    try:
        registry = registry_from(args.config)
    except SettingsError as exc:
        print(f"error: {args.config}: {exc}", file=sys.stderr)
        return 2
    try:
        if args.needs_schema and not registry.schema_is_current():
            raise CommandError(
                "the database schema is missing or out of date; run `modelhub initdb` first"
            )
        return args.handler(registry, args, stdin or sys.stdin)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except DomainError as exc:
        print(f"error: {describe(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        # A bug or an outage (database down, disk full): one clear line for
        # the operator, the traceback in the log at debug level.
        log.debug("%s failed", args.config, exc_info=True)
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        registry.dispose()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelhub", description="modelhub batch scripts: the API's rules from the shell."
    )
    parser.add_argument(
        "-c",
        "--config",
        default="development.ini",
        help="the ini file (default: development.ini)",
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help: str, needs_schema: bool = True) -> Any:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler, needs_schema=needs_schema)
        return sub

    command("initdb", cmd_initdb, "create or upgrade the schema and seed it (safe to rerun)", False)

    user = command("user", cmd_help, "manage accounts (passwords are read from the terminal)")
    user_commands = user.add_subparsers(title="user commands", required=True, metavar="ACTION")
    add = user_commands.add_parser(
        "add",
        help="create an account",
        description="Create an account; the password is "
        "read from the terminal, or from the first line of stdin when it is not one.",
    )
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="make the account an admin")
    add.add_argument("--email", default="", help="the account's email address")
    add.set_defaults(handler=cmd_user_add)
    passwd = user_commands.add_parser(
        "passwd",
        help="set an account's password (revokes its tokens)",
        description="Set a password, read as for `user add`; every token of the account "
        "stops working.",
    )
    passwd.add_argument("name")
    passwd.set_defaults(handler=cmd_user_passwd)
    deactivate = user_commands.add_parser(
        "deactivate",
        help="deactivate an account (revokes its tokens)",
        description="Deactivate an account: it can no longer log in and its tokens stop working.",
    )
    deactivate.add_argument("name")
    deactivate.set_defaults(handler=cmd_user_deactivate)

    imp = command("import", cmd_import, "import models from a JSON manifest (local files or URLs)")
    imp.add_argument("manifest", help="a JSON list of models (see the README)")
    imp.add_argument(
        "--dry-run", action="store_true", help="check every entry, change and download nothing"
    )

    export = command("export", cmd_export, "write the active models as an importable manifest")
    export.add_argument("--files", metavar="DIR", help="also copy the model files into DIR")
    export.add_argument(
        "-o", "--output", metavar="FILE", help="write the manifest to FILE (default: stdout)"
    )

    verify = command("verify", cmd_verify, "re-hash every file and compare with the database")
    verify.add_argument(
        "--repair",
        action="store_true",
        help="first set every reference count to the number of models using the bytes",
    )

    gc = command("gc", cmd_gc, "remove unreferenced files and stale temporary files")
    gc.add_argument("--dry-run", action="store_true", help="only show what would be freed")
    gc.add_argument(
        "--grace",
        type=non_negative_int,
        default=3600,
        metavar="SECONDS",
        help="spare files younger than this (default: 3600)",
    )

    purge = command("purge", cmd_purge, "hard-delete models soft-deleted before a date")
    purge.add_argument(
        "--deleted-before",
        required=True,
        type=parse_when,
        metavar="DATE",
        help="an ISO date or time, e.g. 2026-01-31 or 2026-01-31T12:00:00+01:00 (UTC if no zone)",
    )
    purge.add_argument("--dry-run", action="store_true", help="only list what would be purged")
    return parser


# -- argument types -----------------------------------------------------------


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def parse_when(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# -- output -------------------------------------------------------------------


def read_password(stdin: TextIO) -> str:
    """Twice from the terminal, or the first line of a non-terminal stdin."""
    if stdin.isatty():
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("the passwords do not match")
        return password
    return stdin.readline().rstrip("\r\n")


def describe(exc: DomainError) -> str:
    """A domain error as one line, with the API's per-field messages."""
    if isinstance(exc, Invalid) and exc.fields:
        return "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in exc.fields.items())
    return exc.detail


def interactive() -> bool:
    return sys.stderr.isatty()


def progress(items: Iterable[Any] | None = None, **kwargs: Any) -> tqdm:
    """A progress bar on a terminal; nothing at all otherwise."""
    return tqdm(items, file=sys.stderr, disable=not interactive(), **kwargs)


def line(text: str, *, error: bool = False) -> None:
    """One detail line, above a running progress bar when there is one."""
    stream = sys.stderr if error else sys.stdout
    if interactive():
        tqdm.write(text, file=stream)
    else:
        print(text, file=stream)


def size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


# -- commands -----------------------------------------------------------------


def cmd_help(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    raise AssertionError("argparse requires a sub-command")  # pragma: no cover


def cmd_initdb(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    added = registry.initialise_database()
    print(f"database is at the latest schema; {added} seed rows added")
    return 0


def cmd_user_add(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    password = read_password(stdin)
    with registry.transaction() as services:
        user = services.users.create(
            SYSTEM,
            {
                "username": args.name,
                "password": password,
                "email": args.email,
                "is_staff": args.admin,
                "is_superuser": args.admin,
            },
        )
        pk = user.pk
    print(f"created {'admin' if args.admin else 'user'} {args.name!r} (pk {pk})")
    return 0


def cmd_user_passwd(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    password = read_password(stdin)
    with _named_user(args.name), registry.transaction() as services:
        services.users.set_password(SYSTEM, args.name, password)
    print(f"password of {args.name!r} changed; its earlier tokens no longer work")
    return 0


def cmd_user_deactivate(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    with _named_user(args.name), registry.transaction() as services:
        user = services.users.get_by_username(SYSTEM, args.name)
        services.users.deactivate(SYSTEM, user.pk)
    print(f"deactivated {args.name!r}; its tokens no longer work")
    return 0


class _named_user:
    """Turn "Not found." into a message that names the account."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, NotFound):
            raise CommandError(f"no account named {self.name!r}") from None


def cmd_import(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    manifest = Path(args.manifest)
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"cannot read {manifest}: {exc.strerror}") from None
    except ValueError as exc:
        raise CommandError(f"{manifest} is not valid JSON: {exc}") from None
    if not isinstance(entries, list):
        raise CommandError(f"{manifest} must hold a JSON list of models")
    relative_to = str(manifest.resolve().parent)
    tally = {"created": 0, "updated": 0, "unchanged": 0, "stored": 0, "failed": 0}
    verb = "would be " if args.dry_run else ""
    with progress(total=len(entries), unit="model", desc="import") as bar:
        for number, entry in enumerate(entries, 1):
            label = entry.get("name") if isinstance(entry, dict) else None
            where = f"entry {number}" + (f" ({label})" if isinstance(label, str) else "")
            try:
                with (
                    registry.transaction() as services,
                    progress(unit="B", unit_scale=True, desc=where, leave=False) as received,
                ):
                    result = services.mirror.import_entry(
                        SYSTEM,
                        entry,
                        relative_to=relative_to,
                        dry_run=args.dry_run,
                        progress=received.update,
                    )
            except DomainError as exc:
                tally["failed"] += 1
                line(f"{where}: error: {describe(exc)}", error=True)
            except Exception as exc:  # one bad entry must not stop the others
                tally["failed"] += 1
                line(f"{where}: error: unexpected {type(exc).__name__}: {exc}", error=True)
            else:
                tally[result.model] += 1
                tally["stored"] += result.file == "stored"
                line(f"{where}: model {verb}{result.model}, file {verb}{result.file}")
            bar.update(1)
    note = " (dry run: nothing changed)" if args.dry_run else ""
    print(
        f"{len(entries)} entries: {tally['created']} created, {tally['updated']} updated, "
        f"{tally['unchanged']} unchanged, {tally['stored']} files stored, "
        f"{tally['failed']} failed{note}"
    )
    return 1 if tally["failed"] else 0


def cmd_export(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    sink = registry.file_sink(args.files) if args.files else None
    with registry.transaction() as services:
        entries = services.mirror.export(SYSTEM, sink)
    text = json.dumps(entries, indent=2, ensure_ascii=False) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    files = len({e["file"] for e in entries if "file" in e})
    where = f", {files} files in {args.files}" if args.files else ""
    print(f"exported {len(entries)} models{where}", file=sys.stderr)
    return 0


def cmd_verify(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    if args.repair:
        with registry.transaction() as services:
            repaired = services.maintenance.repair_counts(SYSTEM)
        for problem in repaired:
            line(f"repaired count: {problem}")
    with registry.transaction() as services:
        total = services.maintenance.verify_total(SYSTEM)
        with progress(total=total, unit="B", unit_scale=True, desc="verify") as bar:
            report = services.maintenance.verify(SYSTEM, progress=bar.update)
    for problem in report.problems:
        line(problem, error=True)
    for note in report.notes:
        line(note)
    print(
        f"checked {report.checked} files: {len(report.missing)} missing, "
        f"{len(report.corrupt)} corrupt, {len(report.unreferenced)} without a model, "
        f"{len(report.miscounted)} miscounted, {len(report.temporaries)} temporary files"
        + (f", {len(repaired)} counts repaired" if args.repair else "")
    )
    return 1 if report.problems else 0


def cmd_gc(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    grace = timedelta(seconds=args.grace)
    with registry.transaction() as services:
        report = services.maintenance.collect_garbage(SYSTEM, grace, dry_run=args.dry_run)
    if args.dry_run:
        for ref in report.blobs:
            line(f"would remove blob {ref.sha256} ({size(ref.size)})")
        for temporary in report.temporaries:
            line(f"would remove temporary file {temporary.name} ({size(temporary.size)})")
        freed = report.blob_bytes + sum(t.size for t in report.temporaries)
        print(
            f"would free {size(freed)}: {len(report.blobs)} blobs, "
            f"{len(report.temporaries)} temporary files (dry run)"
        )
        return 0
    for ref in report.removed:
        line(f"removed blob {ref.sha256} ({size(ref.size)})")
    for temporary in report.temporaries:
        line(f"removed temporary file {temporary.name} ({size(temporary.size)})")
    print(
        f"freed {size(report.freed_bytes)}: {len(report.removed)} blobs, "
        f"{len(report.temporaries)} temporary files"
    )
    return 0


def cmd_purge(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    when = args.deleted_before
    with registry.transaction() as services:
        purged = services.maintenance.purge(SYSTEM, when, dry_run=args.dry_run)
    verb = "would purge" if args.dry_run else "purged"
    for model in purged:
        deleted = model.deletion_time.isoformat()
        line(f"{verb} model {model.pk} {model.name!r} (deleted {deleted})")
    print(f"{verb} {len(purged)} models soft-deleted before {when.isoformat()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

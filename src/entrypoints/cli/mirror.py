"""``modelhub import`` and ``modelhub export``: models in and out as a JSON
manifest, through the mirror service."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from domain.catalogue import CATALOGUES
from domain.errors import DomainError
from domain.permissions import SYSTEM
from entrypoints.bootstrap import Registry
from entrypoints.cli.output import CommandError, byte_progress, describe, failed, line, progress


def import_manifest(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    """Import each entry in a transaction of its own; one failing entry is
    reported and the others go on. A catalogue's frameworks come first."""
    if args.catalogue is not None:
        catalogue = CATALOGUES[args.catalogue]
        failed = _import_frameworks(registry, catalogue.frameworks(), args.dry_run)
        entries, relative_to = catalogue.models(), None
    else:
        manifest = Path(args.manifest)
        entries, relative_to, failed = _read(manifest), str(manifest.resolve().parent), 0
    failed += _import_models(registry, entries, relative_to, args.dry_run)
    return 1 if failed else 0


def _import_frameworks(registry: Registry, frameworks: list[dict[str, str]], dry_run: bool) -> int:
    """Add each framework; returns how many failed."""
    tally = {"created": 0, "unchanged": 0, "failed": 0}
    verb = "would be " if dry_run else ""
    for number, framework in enumerate(frameworks, 1):
        where = f"framework {number} ({framework.get('name')} {framework.get('version')})"
        try:
            with registry.transaction() as services:
                result = services.mirror.import_framework(SYSTEM, framework, dry_run=dry_run)
        except DomainError as exc:
            tally["failed"] += 1
            line(f"{where}: error: {describe(exc)}", error=True)
        else:
            tally[result.outcome] += 1
            line(f"{where}: {verb}{result.outcome}")
    note = " (dry run: nothing changed)" if dry_run else ""
    print(
        f"{len(frameworks)} frameworks: {tally['created']} created, "
        f"{tally['unchanged']} unchanged, {tally['failed']} failed{note}"
    )
    return tally["failed"]


def _import_models(
    registry: Registry, entries: list[Any], relative_to: str | None, dry_run: bool
) -> int:
    """Import each manifest entry; returns how many failed."""
    tally = {"created": 0, "updated": 0, "unchanged": 0, "stored": 0, "failed": 0}
    verb = "would be " if dry_run else ""
    with progress(total=len(entries), unit="model", desc="import") as bar:
        for number, entry in enumerate(entries, 1):
            label = entry.get("name") if isinstance(entry, dict) else None
            where = f"entry {number}" + (f" ({label})" if isinstance(label, str) else "")
            try:
                with (
                    registry.transaction() as services,
                    byte_progress(where, leave=False) as received,
                ):
                    result = services.mirror.import_entry(
                        SYSTEM,
                        entry,
                        relative_to=relative_to,
                        dry_run=dry_run,
                        progress=received,
                    )
            except Exception as exc:  # one bad entry must not stop the others
                tally["failed"] += 1
                failed(where, exc)
            else:
                tally[result.model] += 1
                tally["stored"] += result.file == "stored"
                line(f"{where}: model {verb}{result.model}, file {verb}{result.file}")
            bar.update(1)
    note = " (dry run: nothing changed)" if dry_run else ""
    print(
        f"{len(entries)} entries: {tally['created']} created, {tally['updated']} updated, "
        f"{tally['unchanged']} unchanged, {tally['stored']} files stored, "
        f"{tally['failed']} failed{note}"
    )
    return tally["failed"]


def _read(manifest: Path) -> list[Any]:
    """The manifest's list of entries (each checked by the service)."""
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"cannot read {manifest}: {exc.strerror}") from None
    except ValueError as exc:
        raise CommandError(f"{manifest} is not valid JSON: {exc}") from None
    if not isinstance(entries, list):
        raise CommandError(f"{manifest} must hold a JSON list of models")
    return entries


def export_manifest(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    """The manifest to a file or stdout; the summary to stderr."""
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

"""``modelhub initdb``, ``verify``, ``gc`` and ``purge``: the schema and the
stored files, through the maintenance service."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TextIO

from domain.permissions import SYSTEM
from entrypoints.bootstrap import Registry
from entrypoints.cli.output import byte_progress, line, size


def initdb(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    added = registry.initialise_database()
    print(f"database is at the latest schema; {added} seed rows added")
    return 0


def verify(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    """Exit status 1 when a file or a count is wrong."""
    if args.repair:
        with registry.transaction() as services:
            repaired = services.maintenance.repair_counts(SYSTEM)
        for problem in repaired:
            line(f"repaired count: {problem}")
    with registry.transaction() as services:
        total = services.maintenance.verify_total(SYSTEM)
        with byte_progress("verify", total) as advance:
            report = services.maintenance.verify(SYSTEM, progress=advance)
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


def gc(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    grace = timedelta(seconds=args.grace)
    with registry.transaction() as services:
        report = services.maintenance.collect_garbage(SYSTEM, grace, dry_run=args.dry_run)
    if args.dry_run:
        blobs, freed = report.blobs, report.reclaimable_bytes
        remove, free, note = "would remove", "would free", " (dry run)"
    else:
        blobs, freed = report.removed, report.freed_bytes
        remove, free, note = "removed", "freed", ""
    for ref in blobs:
        line(f"{remove} blob {ref.sha256} ({size(ref.size)})")
    for temporary in report.temporaries:
        line(f"{remove} temporary file {temporary.name} ({size(temporary.size)})")
    for upload in report.uploads:
        line(f"{remove} expired upload {upload.staged_as} ({size(upload.size)})")
    folder = registry.settings.proxy_body_dir
    for body in report.proxy_bodies:
        line(f"{remove} proxy body file {body.name} ({size(body.size)}) in {folder}")
    counts = [
        f"{len(blobs)} blobs",
        f"{len(report.temporaries)} temporary files",
        f"{len(report.uploads)} expired uploads",
    ]
    if folder:  # named only behind a proxy that writes upload bodies to files
        counts.append(f"{len(report.proxy_bodies)} proxy body files")
    print(f"{free} {size(freed)}: {', '.join(counts)}{note}")
    return 0


def purge(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    when = args.deleted_before
    with registry.transaction() as services:
        purged = services.maintenance.purge(SYSTEM, when, dry_run=args.dry_run)
    verb = "would purge" if args.dry_run else "purged"
    for model in purged:
        deleted = model.deletion_time.isoformat()
        line(f"{verb} model {model.pk} {model.name!r} (deleted {deleted})")
    print(f"{verb} {len(purged)} models soft-deleted before {when.isoformat()}")
    return 0

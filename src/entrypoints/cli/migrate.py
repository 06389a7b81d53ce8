"""``modelhub migrate``: copy a running UFDL (or modelhub) server's licences,
frameworks and pretrained models here, through the migration service."""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from typing import TextIO

from domain.permissions import SYSTEM
from domain.services.migration import StepResult
from entrypoints.bootstrap import Registry
from entrypoints.cli.output import byte_progress, describe, failed, line, progress, read_password


def migrate(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    """Each record in a transaction of its own; one failing record is
    reported and the others go on. Exit status 1 when any record or file
    failed."""
    password = read_password(stdin, f"Password of {args.user} on {args.source}: ", confirm=False)
    source = registry.source_server(args.source, args.user, password)
    try:
        with registry.transaction() as services:
            plan = services.migration.plan(SYSTEM, source)
        tally = {"created": 0, "updated": 0, "unchanged": 0, "stored": 0, "failed": 0, "moved": 0}
        with progress(total=len(plan), unit="record", desc="migrate") as bar:
            for step in plan:
                # A bar of bytes for a model's file, on a terminal.
                file_bar = (
                    byte_progress(step.label, step.file_size, leave=False)
                    if step.kind == "model"
                    else nullcontext(None)
                )
                try:
                    with registry.transaction() as services, file_bar as received:
                        result = services.migration.migrate(SYSTEM, plan, step, received)
                except Exception as exc:  # one bad record must not stop the others
                    tally["failed"] += 1
                    failed(step.label, exc)
                else:
                    if result.deferred:
                        continue  # its pk is taken here: it comes again later
                    tally[result.outcome] += 1
                    tally["stored"] += result.file == "stored"
                    tally["failed"] += result.failed
                    tally["moved"] += result.pk_differs
                    line(_report(result), error=result.failed)
                bar.update(1)
    finally:
        source.close()
    moved = f", {tally['moved']} with another pk here" if tally["moved"] else ""
    print(
        f"{len(plan)} records from {args.source}: {tally['created']} created, "
        f"{tally['updated']} updated, {tally['unchanged']} unchanged{moved}, "
        f"{tally['stored']} files stored, {tally['failed']} failed"
    )
    return 1 if tally["failed"] else 0


def _report(result: StepResult) -> str:
    """``model 7 'resnet50': created as pk 12 (pk 7 is taken here), file stored``."""
    step = result.step
    text = f"{step.label}: {result.outcome}"
    if result.pk_differs:
        if result.outcome == "created":
            text += f" as pk {result.pk} (pk {step.record.get('pk')} is taken here)"
        else:
            text += f" (pk {result.pk} here)"
    if step.kind == "model":
        text += f", file {result.file}"
        if result.file_error is not None:
            text += f": {describe(result.file_error)}"
    return text

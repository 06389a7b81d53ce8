"""``modelhub fetch``: store models' upstream files before anyone asks."""

from __future__ import annotations

import argparse
from typing import TextIO

from domain.errors import DomainError
from domain.permissions import SYSTEM
from entrypoints.bootstrap import Registry
from entrypoints.cli.output import CommandError, byte_progress, failed, line, size


def fetch(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    """Exit status 1 when a model's file could not be fetched."""
    if args.all == bool(args.pks):
        raise CommandError("give model pks or --all, not both")
    pks = args.pks
    if args.all:
        with registry.transaction() as services:
            pks = [m.pk for m in services.models.awaiting_fetch(SYSTEM)]
    errors = 0
    for pk in pks:
        try:
            with registry.transaction() as services:
                with byte_progress(f"model {pk}", leave=False) as advance:
                    model = services.models.fetch_and_wait(SYSTEM, pk, advance)
                line(f"model {pk} {model.name!r}: {model.data_state}, {size(model.data_size or 0)}")
        except DomainError as exc:
            errors += 1
            failed(f"model {pk}", exc)
    print(f"{len(pks) - errors} of {len(pks)} models stored")
    return 1 if errors else 0

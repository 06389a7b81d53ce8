"""``modelhub``: the batch scripts' entry point.

Every command reads the ini file, builds the same composition root as the
web app, and calls the domain services inside a transaction. This module
runs the command chosen on the command line (see ``parser``) and turns its
failures into one ``error:`` line and an exit status.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

from pyramid.paster import get_appsettings, setup_logging

from domain.errors import DomainError
from entrypoints.bootstrap import Registry
from entrypoints.cli.output import CommandError, describe
from entrypoints.cli.parser import build_parser
from entrypoints.settings import SettingsError, load_settings

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None, stdin: TextIO | None = None) -> int:
    """Exit status 0 on success, 1 when the command fails, 2 for a bad ini file."""
    args = build_parser().parse_args(argv)
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


def registry_from(config_uri: str) -> Registry:
    """The composition root of the ini file, with its logging set up."""
    setup_logging(config_uri)
    return Registry(load_settings(get_appsettings(config_uri)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

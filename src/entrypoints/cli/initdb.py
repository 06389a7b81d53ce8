"""``modelhub-initdb``: create or upgrade the schema and seed it; safe to rerun."""

from __future__ import annotations

import argparse
import sys

from entrypoints.cli.common import config_argument, registry_from


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    config_argument(parser)
    args = parser.parse_args(argv)
    registry = registry_from(args.config_uri)
    try:
        added = registry.initialise_database()
    finally:
        registry.dispose()
    print(f"database is at the latest schema; {added} seed rows added")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``modelhub-initdb CONFIG``: the same as ``modelhub -c CONFIG initdb``."""

from __future__ import annotations

import argparse
import sys

from entrypoints.cli import main as modelhub


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config_uri", nargs="?", default="development.ini")
    args = parser.parse_args(argv)
    return modelhub.main(["-c", args.config_uri, "initdb"])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``modelhub-initdb CONFIG``: the same as ``modelhub -c CONFIG initdb``."""

from __future__ import annotations

import argparse
import sys

from entrypoints.cli import main as modelhub
from entrypoints.cli.parser import add_config_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_config_file(parser)
    args = parser.parse_args(argv)
    return modelhub.main(["-c", args.config_uri, "initdb"])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

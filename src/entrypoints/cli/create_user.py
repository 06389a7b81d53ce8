"""``modelhub-create-user CONFIG NAME [--admin]``: the first admin in one step.

Creates or upgrades the database, then adds the account exactly as
``modelhub -c CONFIG user add`` does (the password read from a prompt or,
when standard input is not a terminal, from its first line).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from entrypoints.cli import main as modelhub
from entrypoints.cli.parser import add_account_options, add_config_file


def main(argv: list[str] | None = None, stdin: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_config_file(parser)
    parser.add_argument("username")
    add_account_options(parser)
    args = parser.parse_args(argv)
    status = modelhub.main(["-c", args.config_uri, "initdb"])
    if status != 0:
        return status
    command = ["-c", args.config_uri, "user", "add", args.username, "--email", args.email]
    return modelhub.main(command + (["--admin"] if args.admin else []), stdin=stdin)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``modelhub-create-user``: add an account, its password read from a prompt
or, when standard input is not a terminal, from its first line."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from domain.errors import Invalid
from domain.permissions import SYSTEM
from entrypoints.cli.common import config_argument, registry_from


def read_password(stdin: TextIO) -> str:
    if stdin.isatty():
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise SystemExit("error: the passwords do not match")
        return password
    return stdin.readline().rstrip("\r\n")


def main(argv: list[str] | None = None, stdin: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    config_argument(parser)
    parser.add_argument("username")
    parser.add_argument("--admin", action="store_true", help="make the user an admin")
    parser.add_argument("--email", default="")
    args = parser.parse_args(argv)
    password = read_password(stdin or sys.stdin)
    registry = registry_from(args.config_uri)
    try:
        registry.initialise_database()
        with registry.transaction() as services:
            user = services.users.create(
                SYSTEM,
                {
                    "username": args.username,
                    "password": password,
                    "email": args.email,
                    "is_staff": args.admin,
                    "is_superuser": args.admin,
                },
            )
            pk = user.pk
    except Invalid as exc:
        for field, messages in exc.fields.items():
            print(f"error: {field}: {' '.join(messages)}", file=sys.stderr)
        if not exc.fields:
            print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        registry.dispose()
    role = "admin" if args.admin else "user"
    print(f"created {role} {args.username!r} (pk {pk})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

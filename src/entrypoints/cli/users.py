"""``modelhub user add|passwd|deactivate``: accounts, through the users service."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from domain.errors import NotFound
from domain.permissions import SYSTEM
from entrypoints.bootstrap import Registry
from entrypoints.cli.output import CommandError, read_password


def add(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    password = read_password(stdin)
    with registry.transaction() as services:
        user = services.users.create(
            SYSTEM,
            {
                "username": args.name,
                "password": password,
                "email": args.email,
                "is_staff": args.admin,
                "is_superuser": args.admin,
            },
        )
        pk = user.pk
    print(f"created {'admin' if args.admin else 'user'} {args.name!r} (pk {pk})")
    return 0


def passwd(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    password = read_password(stdin)
    with _named(args.name), registry.transaction() as services:
        services.users.set_password(SYSTEM, args.name, password)
    print(f"password of {args.name!r} changed; its earlier tokens no longer work")
    return 0


def deactivate(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    with _named(args.name), registry.transaction() as services:
        user = services.users.get_by_username(SYSTEM, args.name)
        services.users.deactivate(SYSTEM, user.pk)
    print(f"deactivated {args.name!r}; its tokens no longer work")
    return 0


@contextmanager
def _named(name: str) -> Iterator[None]:
    """Turn "Not found." into a message that names the account."""
    try:
        yield
    except NotFound:
        raise CommandError(f"no account named {name!r}") from None

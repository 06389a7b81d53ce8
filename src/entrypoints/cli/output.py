"""What the commands show and ask on the terminal: progress bars, detail
lines, sizes, domain errors as one line, and the password prompt."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from tqdm import tqdm

from domain.errors import DomainError, Invalid
from domain.transfer import Progress


class CommandError(Exception):
    """A failure to report as one ``error:`` line and exit status 1."""


def read_password(stdin: TextIO, prompt: str = "Password: ", *, confirm: bool = True) -> str:
    """From the terminal (twice to ``confirm`` a new one), or the first line
    of a non-terminal stdin."""
    if stdin.isatty():
        password = getpass.getpass(prompt)
        if confirm and password != getpass.getpass("Password (again): "):
            raise CommandError("the passwords do not match")
        return password
    return stdin.readline().rstrip("\r\n")


def describe(exc: DomainError) -> str:
    """A domain error as one line, with the API's per-field messages."""
    if isinstance(exc, Invalid) and exc.fields:
        return "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in exc.fields.items())
    return exc.detail


def failed(where: str, exc: Exception) -> None:
    """The error line of one item of a batch (an entry, a record, a model);
    the others go on."""
    detail = (
        describe(exc) if isinstance(exc, DomainError) else f"unexpected {type(exc).__name__}: {exc}"
    )
    line(f"{where}: error: {detail}", error=True)


def interactive() -> bool:
    return sys.stderr.isatty()


def progress(items: Iterable[Any] | None = None, **kwargs: Any) -> tqdm:
    """A progress bar on a terminal; nothing at all otherwise."""
    return tqdm(items, file=sys.stderr, disable=not interactive(), **kwargs)


@contextmanager
def byte_progress(desc: str, total: int | None = None, *, leave: bool = True) -> Iterator[Progress]:
    """A progress bar of bytes; gives the callback a service reports them to."""
    with progress(total=total, unit="B", unit_scale=True, desc=desc, leave=leave) as bar:
        yield bar.update


def line(text: str, *, error: bool = False) -> None:
    """One detail line, above a running progress bar when there is one."""
    stream = sys.stderr if error else sys.stdout
    if interactive():
        tqdm.write(text, file=stream)
    else:
        print(text, file=stream)


def size(count: int) -> str:
    """A byte count for people: ``512 bytes``, ``1.5 KiB``, ``2.0 GiB``."""
    if count < 1024:
        return f"{count} bytes"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"

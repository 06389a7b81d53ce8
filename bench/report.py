"""Figures with their targets, printed as they come and as a Markdown table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

MIB = 1024 * 1024


@dataclass(frozen=True)
class Target:
    """A goal such as ``< 150 MiB``; ``met`` tells whether a value reaches it."""

    text: str
    met: Callable[[float], bool]


def below(limit: float, text: str) -> Target:
    return Target(text, lambda value: value < limit)


def at_least(limit: float, text: str) -> Target:
    return Target(text, lambda value: value >= limit)


def equal(expected: float, text: str) -> Target:
    return Target(text, lambda value: value == expected)


@dataclass(frozen=True)
class Row:
    phase: str
    measure: str
    result: str
    target: str = ""
    verdict: str = ""
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(
        self,
        phase: str,
        measure: str,
        value: float,
        shown: str,
        target: Target | None = None,
        note: str = "",
    ) -> Row:
        """Record a figure and print its line at once."""
        verdict = "" if target is None else ("PASS" if target.met(value) else "MISS")
        row = Row(phase, measure, shown, target.text if target else "", verdict, note)
        self.rows.append(row)
        print(
            f"  {row.phase:<3} {row.measure:<46} {row.result:>13}  {row.target:<12} "
            f"{row.verdict:<4}  {row.note}".rstrip(),
            flush=True,
        )
        return row

    def misses(self) -> list[Row]:
        return [row for row in self.rows if row.verdict == "MISS"]

    def markdown(self) -> str:
        lines = [
            "| phase | measure | result | target | verdict | notes |",
            "|---|---|---:|---|---|---|",
        ]
        for r in self.rows:
            cells = (r.phase, r.measure, r.result, r.target, r.verdict, r.note)
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return "\n".join(lines)


def mib(size: float) -> str:
    return f"{size / MIB:.1f} MiB"


def mb_s(rate: float) -> str:
    return f"{rate:.0f} MB/s"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def size_label(size: int) -> str:
    """``4 GiB``, ``256 MiB``: the label of a test file."""
    if size >= 1024**3 and size % 1024**3 == 0:
        return f"{size // 1024**3} GiB"
    return f"{size / MIB:g} MiB"

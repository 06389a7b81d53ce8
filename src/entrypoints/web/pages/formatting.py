"""How values read on a page: sizes, times, states."""

from __future__ import annotations

from datetime import UTC, datetime

NONE = "\u2013"  # an en dash: no value
UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")

DATA_STATES = {
    "local": "Stored here",
    "remote": "Upstream, fetched on first download",
    "fetching": "Being fetched from upstream",
    "none": "No file",
}


def human_size(size: int | None) -> str:
    """``1536`` -> ``1.5 KiB``; ``None`` -> an en dash."""
    if size is None:
        return NONE
    if size < 1024:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = float(size)
    for unit in UNITS[1:]:
        value /= 1024
        if value < 1024 or unit == UNITS[-1]:
            break
    return f"{value:.1f} {unit}"


def when(value: datetime | None) -> str:
    """A timestamp in UTC, to the minute; an en dash for none."""
    if value is None:
        return NONE
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def data_state(state: str) -> str:
    return DATA_STATES.get(state, state)


def thousands(value: int) -> str:
    """``12345`` -> ``12,345``."""
    return f"{value:,}"

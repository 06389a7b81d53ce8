"""``modelhub stats``: downloads served and bytes fetched upstream."""

from __future__ import annotations

import argparse
from typing import TextIO

from domain.permissions import SYSTEM
from domain.services.stats import Savings
from entrypoints.bootstrap import Registry
from entrypoints.cli.output import line, size


def stats(registry: Registry, args: argparse.Namespace, stdin: TextIO) -> int:
    with registry.transaction() as services:
        savings = services.stats.savings(SYSTEM, args.top)
    for rank, model in enumerate(savings.models, 1):
        line(
            f"{rank:>3}. model {model.pk} {model.name!r}: served {size(model.bytes_served)} "
            f"in {_downloads(model.downloads)}, fetched {size(model.bytes_fetched)}"
        )
    print(summary(savings))
    return 0


def summary(savings: Savings) -> str:
    """``served 120.0 GiB in 3,400 downloads from 2.1 GiB fetched upstream (57x)``."""
    served = f"served {size(savings.bytes_served)} in {_downloads(savings.downloads)}"
    if savings.ratio is None:
        return f"{served}, nothing fetched upstream"
    ratio = f"{savings.ratio:,.0f}" if savings.ratio >= 10 else f"{savings.ratio:.1f}"
    return f"{served} from {size(savings.bytes_fetched)} fetched upstream ({ratio}x)"


def _downloads(count: int) -> str:
    return f"{count:,} download" + ("" if count == 1 else "s")

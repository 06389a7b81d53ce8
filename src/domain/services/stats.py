"""Usage statistics: what modelhub served, and what it fetched upstream to
serve it — the traffic it saved.

What counts (``count_response``): every response of a model's file adds the
bytes it sent, counted when the response ends, so a client that stops half
way counts the bytes it got. A response is one download when it sent the
file's last byte: a whole file, or the ranged response that completes a
resumed download. A range that stops before the end (a probe, one part of a
segmented download) adds its bytes but no download, so a download cut and
resumed, or fetched in parts, counts once. 304, 416 and HEAD send no bytes
and count nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from domain.errors import Invalid
from domain.permissions import Actor, require_admin, require_authenticated
from domain.ports import ModelUsage, UnitOfWork, UsageLog
from domain.services._base import existing

DEFAULT_TOP = 10
MAX_TOP = 1000
_DIGITS = re.compile(r"[0-9]{1,7}", re.ASCII)


@dataclass(frozen=True)
class ModelFigures:
    """One model's figures, with its name."""

    pk: int
    name: str
    downloads: int
    bytes_served: int
    bytes_fetched: int


@dataclass(frozen=True)
class Savings:
    """The totals (hard-deleted models included) and the top models."""

    downloads: int
    bytes_served: int
    bytes_fetched: int
    models: list[ModelFigures]

    @property
    def ratio(self) -> float | None:
        """Bytes served per byte fetched upstream; None before any fetch."""
        return self.bytes_served / self.bytes_fetched if self.bytes_fetched else None


class Stats:
    def __init__(self, uow: UnitOfWork, usage: UsageLog) -> None:
        self.uow = uow
        self.usage = usage

    def savings(self, actor: Actor, top: Any = DEFAULT_TOP) -> Savings:
        """The totals, and the ``top`` models by bytes served (then by
        downloads, then by pk). A hard-deleted model's figures stay in the
        totals but it is not listed. ``top`` is a number from 0 to
        ``MAX_TOP``, or its decimal digits (a query string)."""
        require_admin(actor)
        top = _read_top(top)
        figures = self.usage.figures()
        ranked = sorted(
            (u for u in figures if u.model_pk is not None),
            key=lambda u: (-u.bytes_served, -u.downloads, u.model_pk),
        )
        models: list[ModelFigures] = []
        for usage in ranked:
            if len(models) >= top:
                break
            model = self.uow.models.get(usage.model_pk) if usage.model_pk else None
            if model is None:
                continue  # hard-deleted since: in the totals only
            models.append(
                ModelFigures(
                    model.pk,
                    model.name,
                    usage.downloads,
                    usage.bytes_served,
                    usage.bytes_fetched,
                )
            )
        return Savings(
            downloads=sum(u.downloads for u in figures),
            bytes_served=sum(u.bytes_served for u in figures),
            bytes_fetched=sum(u.bytes_fetched for u in figures),
            models=models,
        )

    def of_model(self, actor: Actor, pk: int) -> ModelUsage:
        """What was served of model ``pk``'s file and fetched for it, as any
        signed-in user may see it beside the model (as a public registry
        shows a model's downloads)."""
        require_authenticated(actor)
        existing(self.uow.models.get(pk))
        return self.usage.figures_of(pk)

    def count_response(self, pk: int, size: int, start: int, sent: int) -> None:
        """Count a response of model ``pk``'s file of ``size`` bytes, which
        began at byte ``start`` and sent ``sent`` bytes before it closed (the
        rules are in this module's description). Called after the request
        ended, for any user: no permission to check."""
        if sent <= 0:
            return
        self.usage.served(pk, sent, download=start + sent >= size)


def _read_top(value: Any) -> int:
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOP:
        raise Invalid.field("top", f"A whole number from 0 to {MAX_TOP}.")
    return value

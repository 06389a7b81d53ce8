"""Catalogues shipped with modelhub: records another registry starts with.

A catalogue is data, read from a file of this package: the frameworks and
pretrained models ``modelhub import --catalogue NAME`` adds, as manifest
entries that the mirror service imports like any manifest's. UFDL's also
gives the licences every new registry is seeded with (``ufdl``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from domain.catalogue import ufdl


@dataclass(frozen=True)
class Catalogue:
    """Frameworks (``{"name", "version"}``) and pretrained models (manifest
    entries), each list new on every call, in the order to import them."""

    frameworks: Callable[[], list[dict[str, str]]]
    models: Callable[[], list[dict[str, Any]]]


CATALOGUES = MappingProxyType({"ufdl": Catalogue(ufdl.frameworks, ufdl.models)})

"""The UFDL server's catalogue: its licences, frameworks and pretrained models.

``ufdl.json`` holds what the UFDL backend (waikato-ufdl/ufdl-backend, commit
4698727) seeds on a new server, as gathered from its data migrations, in the
order that server assigns its pks. It is UFDL's data, kept as UFDL writes it;
what modelhub makes of it is here:

- ``LICENCES``, which every new registry is seeded with (``services.seed``)
  and which migration 0005 adds to a registry seeded before;
- ``LICENCE_ALIASES``, the other names a model body may give a licence by;
- ``frameworks()`` and ``models()``, which ``modelhub import --catalogue ufdl``
  imports as a manifest (``services.mirror``).
"""

from __future__ import annotations

import json
from importlib.resources import files
from types import MappingProxyType
from typing import Any

from domain.model import Licence

_DATA: dict[str, Any] = json.loads(
    files("domain.catalogue").joinpath("ufdl.json").read_text(encoding="utf-8")
)

LICENCES: tuple[Licence, ...] = tuple(
    Licence(
        licence["name"],
        licence["url"],
        domains=list(licence["domains"]),
        permissions=list(licence["permissions"]),
        limitations=list(licence["limitations"]),
        conditions=list(licence["conditions"]),
    )
    for licence in _DATA["licences"]
)
"""UFDL's 14 licences, spelled as UFDL spells them, in UFDL's pk order.
Templates: whoever stores one stores a copy (``services.seed``)."""

LICENCE_ALIASES = MappingProxyType(
    {
        # The SPDX identifiers of UFDL's licences, where they differ from
        # UFDL's names (MIT, CC-BY-4.0 and CC-BY-SA-4.0 are spelled alike).
        # The deprecated short forms ("GPL-3.0") mean the "-only" licences,
        # and are what scripts and earlier modelhub registries use.
        "AGPL-3.0": "AGPL3",
        "AGPL-3.0-only": "AGPL3",
        "Apache-2.0": "Apache 2.0",
        "BSD-2-Clause": "BSD 2-clause",
        "BSD-3-Clause": "BSD 3-clause",
        "CC0-1.0": "CC0",
        "GPL-2.0": "GPL2",
        "GPL-2.0-only": "GPL2",
        "GPL-3.0": "GPL3",
        "GPL-3.0-only": "GPL3",
        "LGPL-3.0": "LGPL3",
        "LGPL-3.0-only": "LGPL3",
        "MPL-2.0": "Mozilla Public License 2.0",
        "Unlicense": "The Unlicense",
        # No SPDX identifier exists for it; modelhub seeded it under this
        # spelling until it seeded UFDL's licences.
        "proprietary": "Proprietary",
    }
)
"""Another name of a licence -> the UFDL name it stands for. A model body's
``licence`` may give either; a licence actually called by the other name
wins (``services.licences.find_licence``)."""


def frameworks() -> list[dict[str, str]]:
    """UFDL's 16 frameworks, each ``{"name", "version"}``, in UFDL's pk order."""
    return [{"name": f["name"], "version": f["version"]} for f in _DATA["frameworks"]]


def models() -> list[dict[str, Any]]:
    """UFDL's 16 pretrained models as manifest entries (the fields an export
    writes, the framework as ``{"name", "version"}``), each with its file
    left upstream in ``source``: nothing is downloaded until a client asks."""
    entries = []
    for model in _DATA["pretrained_models"]:
        name, _, version = model["framework"].partition("|")
        entries.append(
            {
                "name": model["name"],
                "framework": {"name": name, "version": version},
                "domain": model["domain"],
                "licence": model["licence"],
                "url": model["url"],
                "description": model["description"],
                "metadata": model["metadata"],
                "source": model["source"],
            }
        )
    return entries

"""The data every new registry starts with: data domains and UFDL's licences."""

from __future__ import annotations

from domain.catalogue import ufdl
from domain.model import DataDomain, Licence
from domain.ports import UnitOfWork

DOMAINS = (
    ("ic", "Image Classification"),
    ("od", "Object Detection"),
    ("is", "Image Segmentation"),
    ("sp", "Speech"),
    ("sc", "Spectrum Classification"),
)

# UFDL's, spelled as the UFDL server spells them ("Apache 2.0", "GPL3"), so
# UFDL clients see the licences they know. A registry seeded earlier keeps the
# SPDX-spelled licences it got then (its models may use them), and migration
# 0005 adds these to it.
LICENCES = ufdl.LICENCES


def seed(uow: UnitOfWork) -> int:
    """Add the missing seed rows; safe to run again. Returns how many were added."""
    added = 0
    for name, description in DOMAINS:
        if uow.domains.get_by_name(name) is None:
            uow.domains.add(DataDomain(name, description))
            added += 1
    for template in LICENCES:
        if uow.licences.get_by_name(template.name) is None:
            uow.licences.add(
                Licence(
                    template.name,
                    template.url,
                    domains=list(template.domains),
                    permissions=list(template.permissions),
                    limitations=list(template.limitations),
                    conditions=list(template.conditions),
                )
            )
            added += 1
    return added

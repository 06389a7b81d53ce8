"""The data every new registry starts with: data domains and common licences."""

from __future__ import annotations

from domain.model import DataDomain, Licence
from domain.ports import UnitOfWork

DOMAINS = (
    ("ic", "Image Classification"),
    ("od", "Object Detection"),
    ("is", "Image Segmentation"),
    ("sp", "Speech"),
    ("sc", "Spectrum Classification"),
)

_PERMISSIVE = ["Commercial use", "Modification", "Distribution", "Private use"]

LICENCES = (
    Licence(
        "Apache-2.0",
        "https://www.apache.org/licenses/LICENSE-2.0",
        permissions=[*_PERMISSIVE, "Patent use"],
        limitations=["Trademark use", "Liability", "Warranty"],
        conditions=["License and copyright notice", "State changes"],
    ),
    Licence(
        "MIT",
        "https://opensource.org/licenses/MIT",
        permissions=list(_PERMISSIVE),
        limitations=["Liability", "Warranty"],
        conditions=["License and copyright notice"],
    ),
    Licence(
        "BSD-3-Clause",
        "https://opensource.org/licenses/BSD-3-Clause",
        permissions=list(_PERMISSIVE),
        limitations=["Liability", "Warranty"],
        conditions=["License and copyright notice"],
    ),
    Licence(
        "GPL-3.0",
        "https://www.gnu.org/licenses/gpl-3.0.html",
        permissions=[*_PERMISSIVE, "Patent use"],
        limitations=["Liability", "Warranty"],
        conditions=[
            "License and copyright notice",
            "State changes",
            "Disclose source",
            "Same license",
        ],
    ),
    Licence(
        "CC-BY-4.0",
        "https://creativecommons.org/licenses/by/4.0/",
        permissions=["Commercial use", "Modification", "Distribution", "Private use"],
        limitations=["Liability", "Trademark use", "Patent use", "Warranty"],
        conditions=["License and copyright notice", "State changes"],
    ),
    Licence(
        "CC-BY-NC-4.0",
        "https://creativecommons.org/licenses/by-nc/4.0/",
        permissions=["Modification", "Distribution", "Private use"],
        limitations=["Commercial use", "Liability", "Trademark use", "Warranty"],
        conditions=["License and copyright notice", "State changes"],
    ),
    Licence(
        "CC-BY-SA-4.0",
        "https://creativecommons.org/licenses/by-sa/4.0/",
        permissions=["Commercial use", "Modification", "Distribution", "Private use"],
        limitations=["Liability", "Trademark use", "Patent use", "Warranty"],
        conditions=["License and copyright notice", "State changes", "Same license"],
    ),
    Licence(
        "proprietary",
        "https://en.wikipedia.org/wiki/Proprietary_software",
        permissions=["Private use"],
        limitations=["Commercial use", "Modification", "Distribution"],
        conditions=["Read the vendor's terms"],
    ),
)


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

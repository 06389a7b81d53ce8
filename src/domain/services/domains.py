"""Data domains: read-only, seeded when the database is created."""

from __future__ import annotations

from domain.filters import DOMAIN_FIELDS
from domain.model import DataDomain
from domain.ports import UnitOfWork
from domain.services._base import ReadableResource


class Domains(ReadableResource[DataDomain]):
    fields = DOMAIN_FIELDS

    def __init__(self, uow: UnitOfWork) -> None:
        super().__init__(uow.domains)

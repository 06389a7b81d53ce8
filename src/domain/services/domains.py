"""Data domains: read-only, seeded when the database is created."""

from __future__ import annotations

from domain.model import DataDomain
from domain.ports import UnitOfWork
from domain.resources import DOMAIN
from domain.services._base import ReadableResource


class Domains(ReadableResource[DataDomain]):
    resource = DOMAIN

    def __init__(self, uow: UnitOfWork) -> None:
        super().__init__(uow.domains)

"""Frameworks: the library and version a model was built with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.errors import Conflict, Invalid
from domain.model import Framework
from domain.permissions import Actor, require_admin
from domain.ports import UnitOfWork
from domain.resources import FRAMEWORK
from domain.services._base import ReadableResource
from domain.validation import read_body


class Frameworks(ReadableResource[Framework]):
    resource = FRAMEWORK

    def __init__(self, uow: UnitOfWork) -> None:
        super().__init__(uow.frameworks)
        self.uow = uow

    def create(self, actor: Actor, data: Mapping[str, Any], *, pk: int | None = None) -> Framework:
        """A new framework; with ``pk`` (free), under that pk (a migration's)."""
        require_admin(actor)
        framework = Framework(**self._read(data, partial=False), pk=pk)
        self._check_unique(framework)
        self.uow.frameworks.add(framework)
        return framework

    def update(
        self, actor: Actor, pk: int, data: Mapping[str, Any], partial: bool = False
    ) -> Framework:
        require_admin(actor)
        framework = self._get(pk)
        values = self._read(data, partial)
        candidate = Framework(
            values.get("name", framework.name), values.get("version", framework.version)
        )
        self._check_unique(candidate, pk)
        framework.name, framework.version = candidate.name, candidate.version
        return framework

    def destroy(self, actor: Actor, pk: int) -> None:
        """Remove a framework no model uses."""
        require_admin(actor)
        framework = self._get(pk)
        if self.uow.models.uses_framework(framework):
            raise Conflict("This framework is used by pretrained models.")
        self.uow.frameworks.delete(framework)

    def get_or_create(self, actor: Actor, name: str, version: str) -> Framework:
        """The framework with this name and version, created when missing."""
        return self.find_or_create(actor, name, version)[0]

    def find_or_create(self, actor: Actor, name: str, version: str) -> tuple[Framework, bool]:
        """As ``get_or_create``, and whether it was created."""
        require_admin(actor)
        values = self._read({"name": name, "version": version}, partial=False)
        found = self.uow.frameworks.get_by_name_version(values["name"], values["version"])
        if found is not None:
            return found, False
        return self.create(actor, values), True

    def _read(self, data: Mapping[str, Any], partial: bool) -> dict[str, Any]:
        values, errors = read_body(FRAMEWORK, data, partial=partial)
        errors.raise_if_any()
        return values

    def _check_unique(self, candidate: Framework, pk: int | None = None) -> None:
        found = self.uow.frameworks.get_by_name_version(candidate.name, candidate.version)
        if found is not None and found.pk != pk:
            raise Invalid(
                fields={"non_field_errors": ["The fields name, version must make a unique set."]}
            )

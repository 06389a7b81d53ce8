"""Licences and their sub-descriptors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.catalogue.ufdl import LICENCE_ALIASES
from domain.errors import Conflict, Invalid
from domain.model import SUBDESCRIPTOR_TYPES, Licence
from domain.permissions import Actor, require_admin
from domain.ports import LicenceRepository, UnitOfWork
from domain.resources import LICENCE
from domain.services._base import ReadableResource
from domain.validation import REQUIRED, read_body, text_problem

SUBDESCRIPTOR_METHODS = ("add", "remove")


class Licences(ReadableResource[Licence]):
    resource = LICENCE

    def __init__(self, uow: UnitOfWork) -> None:
        super().__init__(uow.licences)
        self.uow = uow

    def create(self, actor: Actor, data: Mapping[str, Any], *, pk: int | None = None) -> Licence:
        """A new licence; with ``pk`` (free), under that pk (a migration's)."""
        require_admin(actor)
        licence = Licence(**self._read(data, partial=False), pk=pk)
        self._check_unique(licence.name)
        self.uow.licences.add(licence)
        return licence

    def update(
        self, actor: Actor, pk: int, data: Mapping[str, Any], partial: bool = False
    ) -> Licence:
        require_admin(actor)
        licence = self._get(pk)
        values = self._read(data, partial)
        if "name" in values:
            self._check_unique(values["name"], pk)
        for name, value in values.items():
            setattr(licence, name, value)
        return licence

    def destroy(self, actor: Actor, pk: int) -> None:
        """Remove a licence no model uses."""
        require_admin(actor)
        licence = self._get(pk)
        if self.uow.models.uses_licence(licence):
            raise Conflict("This licence is used by pretrained models.")
        self.uow.licences.delete(licence)

    def edit_subdescriptors(self, actor: Actor, pk: int, data: Mapping[str, Any]) -> Licence:
        """Add names to, or remove names from, one sub-descriptor list."""
        require_admin(actor)
        licence = self._get(pk)
        kind, method, names = data.get("type"), data.get("method"), data.get("names")
        errors: dict[str, list[str]] = {}
        if kind not in SUBDESCRIPTOR_TYPES:
            errors["type"] = [_choice(kind, SUBDESCRIPTOR_TYPES)]
        if method not in SUBDESCRIPTOR_METHODS:
            errors["method"] = [_choice(method, SUBDESCRIPTOR_METHODS)]
        if names is None:
            errors["names"] = [REQUIRED]
        elif not isinstance(names, list) or not all(
            isinstance(n, str) and n.strip() for n in names
        ):
            errors["names"] = ["Expected a list of non-empty strings."]
        elif problems := [p for p in map(text_problem, names) if p is not None]:
            errors["names"] = problems[:1]
        if errors:
            raise Invalid(fields=errors)
        current: list[str] = list(getattr(licence, kind))
        if method == "add":
            updated = current + [n for n in dict.fromkeys(names) if n not in current]
        else:
            updated = [n for n in current if n not in names]
        setattr(licence, kind, updated)
        return licence

    def _read(self, data: Mapping[str, Any], partial: bool) -> dict[str, Any]:
        values, errors = read_body(LICENCE, data, partial=partial)
        errors.raise_if_any()
        return values

    def _check_unique(self, name: str, pk: int | None = None) -> None:
        found = self.uow.licences.get_by_name(name)
        if found is not None and found.pk != pk:
            raise Invalid.field("name", "licence with this name already exists.")


def find_licence(licences: LicenceRepository, name: str) -> Licence | None:
    """The licence a model body names: the one called ``name``, else the one
    ``name`` is an alias of (the SPDX identifier of a UFDL licence, e.g.
    ``Apache-2.0`` for ``Apache 2.0``), so scripts written for either kind
    of server work. A licence really called ``name`` wins: in a registry
    seeded before UFDL's licences, ``Apache-2.0`` still names its own row."""
    found = licences.get_by_name(name)
    if found is None and name in LICENCE_ALIASES:
        found = licences.get_by_name(LICENCE_ALIASES[name])
    return found


def _choice(value: Any, choices: tuple[str, ...]) -> str:
    return f'"{value}" is not a valid choice; use one of {", ".join(choices)}.'

"""The vocabulary of field declarations: what one field of a resource is.

Each resource declares its fields once (``domain.resources``); input
validation, the filter whitelists, import and export and the in-memory
repositories' accessors all derive from that declaration.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass


class Kind(enum.Enum):
    """The type of a field's value, as bodies and filters give it."""

    INT = "int"
    FLOAT = "float"
    STR = "str"
    BOOL = "bool"
    DATETIME = "datetime"
    STR_LIST = "list"


@dataclass(frozen=True)
class Field:
    """One field of a resource.

    - ``required``: a create or full update must give it; a ``write_only``
      field (a password) is required only on create, since a full update
      cannot read it back to repeat it.
    - ``nullable``: ``null`` is a value of the field; otherwise a ``null`` in
      a body is refused.
    - ``blank``: the empty text (or, with ``strip``, text of spaces only) is
      a value of the field.
    - ``pattern``: a text value must match this regular expression in
      full, else ``pattern_message``.
    - ``filterable``: may appear in filter expressions and orderings.
    - ``exported``: travels in import and export manifests.
    - ``references``: the field holds a record of that resource, named in a
      body by the record's ``lookup`` field; a reference's own value in a
      filter is the record's pk, and its ``related`` fields are filterable
      as ``field.related``.
    """

    name: str
    kind: Kind
    description: str = ""
    required: bool = False
    nullable: bool = False
    blank: bool = False
    strip: bool = True
    max_length: int | None = None
    url: bool = False
    pattern: str | None = None
    pattern_message: str = ""
    writable: bool = False
    write_only: bool = False
    filterable: bool = False
    exported: bool = False
    references: Resource | None = None
    lookup: str = "pk"
    related: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resource:
    """A kind of record and its fields, in the order the API shows them.

    ``key`` names the fields that identify a record across registries (an
    import finds the record to update by them).
    """

    name: str
    fields: tuple[Field, ...]
    key: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(name)

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    @property
    def writable(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.writable)

    @property
    def exported(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.exported)

    @property
    def filters(self) -> Mapping[str, Kind]:
        """The fields a filter may name, dotted ones included, with their kinds."""
        kinds: dict[str, Kind] = {}
        for field in self.fields:
            if field.filterable:
                kinds[field.name] = Kind.INT if field.references else field.kind
            if field.references is not None:
                for name in field.related:
                    kinds[f"{field.name}.{name}"] = field.references[name].kind
        return kinds

    def value_path(self, name: str) -> tuple[str, ...]:
        """The attributes to follow from an entity to a filter field's value."""
        head, _, rest = name.partition(".")
        if rest:
            return (head, rest)
        return (head, "pk") if self[head].references is not None else (head,)

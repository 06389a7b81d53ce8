"""Read models: what clients are shown, read without loading entities.

Listing and showing models is most of a registry's traffic. The repository
reads these straight from storage (the read side of
``PretrainedModelRepository``), so a list of thousands of models builds no
entity, no related entity and no change tracking; the rules that decide
what may be listed stay in the services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.model import PretrainedModel, data_state_of


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A pretrained model as the API shows it: its own fields, and of what it
    refers to only what is shown (the framework, the domain's description,
    the licence's name, the creator's pk)."""

    pk: int
    name: str
    framework_pk: int
    framework_name: str
    framework_version: str
    domain_description: str
    licence_name: str
    creator_pk: int | None
    creation_time: datetime | None
    deletion_time: datetime | None
    url: str
    description: str
    metadata: str
    data_size: int | None
    data_sha256: str | None
    source: str | None
    source_sha256: str | None
    data_state: str

    @property
    def data(self) -> bool:
        """Whether a file is attached or can be fetched (the API's ``data``)."""
        return self.data_state != "none"

    @classmethod
    def of(cls, model: PretrainedModel) -> ModelRecord:
        """The record of an entity (as loaded or just changed)."""
        assert model.pk is not None and model.framework.pk is not None
        return cls(
            pk=model.pk,
            name=model.name,
            framework_pk=model.framework.pk,
            framework_name=model.framework.name,
            framework_version=model.framework.version,
            domain_description=model.domain.description,
            licence_name=model.licence.name,
            creator_pk=model.creator.pk if model.creator is not None else None,
            creation_time=model.creation_time,
            deletion_time=model.deletion_time,
            url=model.url,
            description=model.description,
            metadata=model.metadata,
            data_size=model.data_size,
            data_sha256=model.data_sha256,
            source=model.source,
            source_sha256=model.source_sha256,
            data_state=data_state_of(model.data_sha256, model.fetch_owner, model.source),
        )

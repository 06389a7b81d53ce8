"""Imperative mapping of the domain dataclasses onto the tables.

The domain classes stay free of SQLAlchemy; the composition root switches
the mapping on once with ``start_mappers()``.
"""

from __future__ import annotations

import threading

from sqlalchemy.orm import registry, relationship

from adapters.sqlalchemy import tables as t
from domain.model import DataDomain, Framework, Licence, PretrainedModel, Upload, User

mapper_registry = registry(metadata=t.metadata)
_lock = threading.Lock()
_started = False


def start_mappers() -> None:
    """Map the domain classes; calling it again does nothing."""
    global _started
    with _lock:
        if _started:
            return
        mapper_registry.map_imperatively(User, t.users, properties={"pk": t.users.c.id})
        mapper_registry.map_imperatively(
            Framework, t.frameworks, properties={"pk": t.frameworks.c.id}
        )
        mapper_registry.map_imperatively(DataDomain, t.domains, properties={"pk": t.domains.c.id})
        mapper_registry.map_imperatively(Licence, t.licences, properties={"pk": t.licences.c.id})
        models = t.pretrained_models
        mapper_registry.map_imperatively(
            PretrainedModel,
            models,
            properties={
                "pk": models.c.id,
                # Only declarative classes reserve the name ``metadata``.
                "metadata": models.c["metadata"],
                # Joined eagerly so that listing N models is one query.
                "framework": relationship(Framework, lazy="joined", innerjoin=True),
                "domain": relationship(DataDomain, lazy="joined", innerjoin=True),
                "licence": relationship(Licence, lazy="joined", innerjoin=True),
                "creator": relationship(User, lazy="joined"),
            },
        )
        mapper_registry.map_imperatively(
            Upload,
            t.uploads,
            properties={"owner_pk": t.uploads.c.owner_id, "model_pk": t.uploads.c.model_id},
        )
        mapper_registry.configure()
        _started = True

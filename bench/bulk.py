"""Many models at once, through the services of the composition root.

Runs while the server is stopped, on the same SQLite file and with the same
rules as ``POST /pretrained-models/create``, only without HTTP in between.
Meant to run in a child process, so the benchmark's client process never
holds SQLAlchemy state or a database connection.
"""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "resnet",
    "bert",
    "yolo",
    "vit",
    "unet",
    "gpt",
    "wav2vec",
    "efficientnet",
    "mobilenet",
    "detr",
)
CONTAINS = "resnet"  # in the name of one model in ten
BATCH = 1000


def model_name(index: int) -> str:
    return f"{WORDS[index % len(WORDS)]}-{index:06d}"


def insert_models(ini: Path, first: int, count: int, framework: int, admin: str) -> int:
    """Create ``count`` models numbered from ``first``, acting as ``admin``,
    committing every ``BATCH``. Returns how many were created."""
    from pyramid.paster import get_appsettings

    from entrypoints.bootstrap import Registry
    from entrypoints.settings import load_settings

    registry = Registry(load_settings(get_appsettings(str(ini))))
    created = 0
    try:
        while created < count:
            batch = min(BATCH, count - created)
            with registry.transaction() as services:
                actor = services.uow.users.get_by_username(admin)
                for index in range(first + created, first + created + batch):
                    name = model_name(index)
                    services.models.create(
                        actor,
                        {
                            "framework": framework,
                            "domain": "od" if index % 2 else "ic",
                            "licence": "MIT" if index % 3 else "Apache-2.0",
                            "url": f"https://example.org/models/{name}",
                            "description": f"Benchmark model {name}, " + "lorem ipsum " * 8,
                            "name": name,
                        },
                    )
            created += batch
    finally:
        registry.dispose()
    return created

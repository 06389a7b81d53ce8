"""The JSON of each resource shows exactly its declared fields, in their order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.fields import Resource
from domain.model import DataDomain, Framework, Licence, PretrainedModel, User
from domain.resources import DOMAIN, FRAMEWORK, LICENCE, PRETRAINED_MODEL, USER
from entrypoints.web import serializers

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
FW = Framework("pytorch", "2.4", pk=1)
IC = DataDomain("ic", "Image Classification", pk=2)
MIT = Licence("MIT", "https://opensource.org/licenses/MIT", pk=3)
ALICE = User("alice", password_hash="secret hash", date_joined=NOW, pk=4)
MODEL = PretrainedModel(
    "resnet50", FW, IC, MIT, "https://example.org/r", "ResNet", creation_time=NOW, pk=5
)

CASES = [
    (PRETRAINED_MODEL, serializers.model_json(MODEL)),
    (FRAMEWORK, serializers.framework_json(FW)),
    (DOMAIN, serializers.domain_json(IC)),
    (LICENCE, serializers.licence_json(MIT)),
    (USER, serializers.user_json(ALICE)),
]


@pytest.mark.parametrize(("resource", "shown"), CASES, ids=[r.name for r, _ in CASES])
def test_json_holds_the_declared_fields(resource: Resource, shown: dict) -> None:
    assert list(shown) == [f.name for f in resource if not f.write_only]

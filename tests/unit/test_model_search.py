"""Searching the catalogue as a person does: words in the name or the
description, facets, orders, pages, and soft-deleted models for admins only."""

from __future__ import annotations

import io
from typing import Any

import pytest

from adapters.memory import MemoryUnitOfWork
from domain.errors import Invalid, NotAuthenticated
from domain.model import Framework, PretrainedModel, User
from domain.paging import MAX_PAGE_SIZE, PageRequest
from domain.search import MAX_WORDS, SORTS, ModelSearch
from domain.services.pretrained_models import PretrainedModels
from tests.unit.conftest import FakeClock


@pytest.fixture
def catalogue(
    models: PretrainedModels,
    admin: User,
    framework: Framework,
    uow: MemoryUnitOfWork,
    clock: FakeClock,
) -> dict[str, PretrainedModel]:
    """Five models, made a minute apart in this order."""
    keras = Framework("keras", "3.0")
    uow.frameworks.add(keras)
    rows: list[tuple[str, str, Framework, str, str, dict[str, Any]]] = [
        ("resnet50", "ResNet-50 trained on ImageNet", framework, "ic", "MIT", {}),
        ("yolov8", "Real-time object DETECTION", framework, "od", "Apache 2.0", {}),
        ("bert", "A language model", keras, "ic", "MIT", {"source": "https://example.org/b"}),
        ("deeplab", "Semantic segmentation on imagenet-1k", keras, "is", "MIT", {}),
        ("gone", "An old ImageNet model", framework, "ic", "MIT", {}),
    ]
    made = {}
    for name, description, fw, domain, licence, extra in rows:
        body = {
            "name": name,
            "description": description,
            "framework": fw.pk,
            "domain": domain,
            "licence": licence,
            "url": f"https://example.org/{name}",
            **extra,
        }
        made[name] = models.create(admin, body)
        clock.advance(minutes=1)
    models.set_file(admin, made["resnet50"].pk, io.BytesIO(b"weights"))
    models.soft_delete(admin, made["gone"].pk)
    uow.commit()
    return made


def names(models: PretrainedModels, actor: User | None, **asked: Any) -> list[str]:
    return [m.name for m in models.search(actor, ModelSearch(**asked)).items]


@pytest.mark.usefixtures("catalogue")
def test_every_word_is_found_in_the_name_or_the_description_in_any_case(
    models: PretrainedModels, user: User
) -> None:
    assert names(models, user, text="imagenet") == ["deeplab", "resnet50"]
    assert names(models, user, text="  IMAGENET  resnet ") == ["resnet50"]
    assert names(models, user, text="detection yolo") == ["yolov8"]
    assert names(models, user, text="imagenet yolo") == []
    assert names(models, user, text="") == ["deeplab", "bert", "yolov8", "resnet50"]


def test_facets_narrow_the_catalogue(
    models: PretrainedModels, user: User, framework: Framework, catalogue: dict[str, Any]
) -> None:
    keras = catalogue["bert"].framework.pk
    assert names(models, user, framework=keras) == ["deeplab", "bert"]
    assert names(models, user, framework=framework.pk, domain="ic") == ["resnet50"]
    assert names(models, user, licence="Apache 2.0") == ["yolov8"]
    assert names(models, user, domain="sp") == []
    # A file to download: stored here, or fetched from the source on first use.
    assert names(models, user, has_file=True) == ["bert", "resnet50"]
    assert names(models, user, has_file=False) == ["deeplab", "yolov8"]
    assert names(models, user, upstream=True) == ["bert"]
    assert names(models, user, upstream=False) == ["deeplab", "yolov8", "resnet50"]


@pytest.mark.usefixtures("catalogue")
def test_soft_deleted_models_are_found_by_admins_only(
    models: PretrainedModels, admin: User, user: User
) -> None:
    assert "gone" not in names(models, admin)
    assert names(models, admin, deleted="only") == ["gone"]
    assert names(models, admin, deleted="include")[0] == "gone"
    # Others are shown the catalogue as if they had not asked.
    everyone = names(models, user)
    assert names(models, user, deleted="only") == names(models, user, deleted="include") == everyone
    assert "gone" not in everyone


@pytest.mark.usefixtures("catalogue")
def test_orders(models: PretrainedModels, user: User) -> None:
    assert names(models, user, sort="oldest") == ["resnet50", "yolov8", "bert", "deeplab"]
    assert names(models, user, sort="name") == ["bert", "deeplab", "resnet50", "yolov8"]
    assert names(models, user, sort="-name") == ["yolov8", "resnet50", "deeplab", "bert"]
    # keras before pytorch, then by name.
    assert names(models, user, sort="framework") == ["bert", "deeplab", "resnet50", "yolov8"]
    # Image Classification, Image Segmentation, Object Detection.
    assert names(models, user, sort="domain") == ["bert", "resnet50", "deeplab", "yolov8"]
    assert set(SORTS) == {"newest", "oldest", "name", "-name", "framework", "domain"}


@pytest.mark.usefixtures("catalogue")
def test_pages(models: PretrainedModels, user: User) -> None:
    first = models.search(user, ModelSearch(sort="name", page=PageRequest(1, 3)))
    assert [m.name for m in first.items] == ["bert", "deeplab", "resnet50"]
    assert (first.total, first.pages, first.first, first.last) == (4, 2, 1, 3)
    assert not first.has_previous and first.has_next
    second = models.search(user, ModelSearch(sort="name", page=PageRequest(2, 3)))
    assert [m.name for m in second.items] == ["yolov8"]
    assert (second.first, second.last, second.has_previous, second.has_next) == (4, 4, True, False)
    beyond = models.search(user, ModelSearch(page=PageRequest(5, 3)))
    assert beyond.items == [] and beyond.total == 4 and (beyond.first, beyond.last) == (0, 0)


def test_searching_needs_a_signed_in_user(models: PretrainedModels) -> None:
    with pytest.raises(NotAuthenticated):
        models.search(None, ModelSearch())


@pytest.mark.parametrize(
    ("asked", "field"),
    [
        ({"sort": "size"}, "sort"),
        ({"deleted": "yes"}, "deleted"),
        ({"text": "a\x00b"}, "q"),
        ({"text": "x" * 1001}, "q"),
        ({"text": " ".join(["w"] * (MAX_WORDS + 1))}, "q"),
        ({"framework": 2**31}, "framework"),
    ],
)
def test_a_search_that_cannot_be_run_names_its_field(asked: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as caught:
        ModelSearch(**asked)
    assert list(caught.value.fields) == [field]


@pytest.mark.parametrize(
    ("number", "size", "field"),
    [(0, 20, "page"), (1, 0, "per_page"), (1, MAX_PAGE_SIZE + 1, "per_page"), (True, 5, "page")],
)
def test_a_page_outside_the_limits_is_refused(number: Any, size: Any, field: str) -> None:
    with pytest.raises(Invalid) as caught:
        PageRequest(number, size)
    assert list(caught.value.fields) == [field]

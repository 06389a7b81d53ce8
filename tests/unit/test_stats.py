"""Usage statistics on the fakes: who may read them, the totals, the top
models and the ratio, and what a response of a model's file counts as."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.memory import MemoryUnitOfWork, MemoryUsageLog
from domain.errors import Invalid, NotAuthenticated, NotFound, PermissionDenied
from domain.model import PretrainedModel, User
from domain.ports import ModelUsage
from domain.services.pretrained_models import PretrainedModels
from domain.services.stats import MAX_TOP, ModelFigures, Savings, Stats

GIB = 1024**3


@pytest.fixture
def usage() -> MemoryUsageLog:
    return MemoryUsageLog()


@pytest.fixture
def stats(uow: MemoryUnitOfWork, usage: MemoryUsageLog) -> Stats:
    return Stats(uow, usage)


@pytest.fixture
def make_model(
    models: PretrainedModels, admin: User, model_data: dict[str, Any], uow: MemoryUnitOfWork
) -> Any:
    def make(name: str) -> PretrainedModel:
        created = models.create(admin, {**model_data, "name": name})
        uow.commit()
        return created

    return make


def test_only_admins_read_the_statistics(stats: Stats, user: User, inactive: User) -> None:
    with pytest.raises(NotAuthenticated):
        stats.savings(None)
    with pytest.raises(NotAuthenticated):
        stats.savings(inactive)
    with pytest.raises(PermissionDenied):
        stats.savings(user)


def test_nothing_served_yet(stats: Stats, admin: User) -> None:
    savings = stats.savings(admin)
    assert savings == Savings(0, 0, 0, [])
    assert savings.ratio is None


def test_totals_top_models_and_ratio(
    stats: Stats, usage: MemoryUsageLog, admin: User, make_model: Any
) -> None:
    small, big, unused, tied = (make_model(n) for n in ("small", "big", "unused", "tied"))
    usage.served(small.pk, 10, download=True)
    usage.served(big.pk, 3 * GIB, download=True)
    usage.served(big.pk, 1 * GIB, download=False)
    usage.fetched(big.pk, 2 * GIB)
    usage.served(tied.pk, 10, download=False)
    usage.fetched(unused.pk, 5)

    savings = stats.savings(admin)

    assert (savings.downloads, savings.bytes_served) == (2, 4 * GIB + 20)
    assert savings.bytes_fetched == 2 * GIB + 5
    assert savings.ratio == pytest.approx((4 * GIB + 20) / (2 * GIB + 5))
    # By bytes served, then downloads, then pk; a model only fetched comes last.
    assert savings.models == [
        ModelFigures(big.pk, "big", 1, 4 * GIB, 2 * GIB),
        ModelFigures(small.pk, "small", 1, 10, 0),
        ModelFigures(tied.pk, "tied", 0, 10, 0),
        ModelFigures(unused.pk, "unused", 0, 0, 5),
    ]
    assert [m.name for m in stats.savings(admin, top=2).models] == ["big", "small"]
    assert stats.savings(admin, top=0).models == []
    assert stats.savings(admin, top=0).bytes_served == savings.bytes_served


def test_top_may_be_the_digits_of_a_query_string(stats: Stats, admin: User) -> None:
    assert stats.savings(admin, "5").models == []
    assert stats.savings(admin, str(MAX_TOP)).models == []
    for wrong in (-1, MAX_TOP + 1, "-1", "1.5", "", " 1", "\u0661", "9" * 30, True, None, 2.0):
        with pytest.raises(Invalid) as error:
            stats.savings(admin, wrong)
        assert list(error.value.fields) == ["top"], wrong


def test_a_hard_deleted_model_stays_in_the_totals_but_leaves_the_list(
    stats: Stats,
    usage: MemoryUsageLog,
    models: PretrainedModels,
    admin: User,
    make_model: Any,
    uow: MemoryUnitOfWork,
) -> None:
    gone, kept = make_model("gone"), make_model("kept")
    usage.served(gone.pk, 100, download=True)
    usage.served(kept.pk, 50, download=True)
    models.hard_delete(admin, gone.pk)
    uow.commit()

    savings = stats.savings(admin, top=1)

    assert (savings.downloads, savings.bytes_served) == (2, 150)
    assert savings.models == [ModelFigures(kept.pk, "kept", 1, 50, 0)]


def test_a_soft_deleted_model_is_still_listed(
    stats: Stats,
    usage: MemoryUsageLog,
    models: PretrainedModels,
    admin: User,
    make_model: Any,
    uow: MemoryUnitOfWork,
) -> None:
    model = make_model("old")
    usage.served(model.pk, 7, download=True)
    models.soft_delete(admin, model.pk)
    uow.commit()
    assert [m.name for m in stats.savings(admin).models] == ["old"]


@pytest.mark.parametrize(
    ("start", "sent", "counted"),
    [
        (0, 100, ModelUsage(1, 1, 100)),  # the whole file
        (0, 40, ModelUsage(1, 0, 40)),  # cut by the client
        (60, 40, ModelUsage(1, 1, 40)),  # a resumed download, to the end
        (10, 10, ModelUsage(1, 0, 10)),  # a range inside the file
        (99, 1, ModelUsage(1, 1, 1)),  # the last byte alone
        (0, 0, None),  # nothing sent (HEAD, a client gone at once)
    ],
)
def test_what_a_response_counts(
    stats: Stats, usage: MemoryUsageLog, start: int, sent: int, counted: ModelUsage | None
) -> None:
    stats.count_response(1, 100, start, sent)
    assert usage.figures() == ([counted] if counted else [])


def test_a_download_cut_then_resumed_counts_once(stats: Stats, usage: MemoryUsageLog) -> None:
    stats.count_response(1, 100, 0, 30)
    stats.count_response(1, 100, 30, 70)
    assert usage.figures() == [ModelUsage(1, downloads=1, bytes_served=100)]


def test_the_fake_log_adds_up_per_model(usage: MemoryUsageLog) -> None:
    usage.served(2, 5, download=True)
    usage.fetched(1, 9)
    usage.served(2, 6, download=False)
    usage.fetched(2, 1)
    assert usage.figures() == [ModelUsage(1, 0, 0, 9), ModelUsage(2, 1, 11, 1)]


def test_a_models_figures_are_shown_to_any_signed_in_user(
    stats: Stats, usage: MemoryUsageLog, user: User, make_model: Any
) -> None:
    served, other = make_model("served"), make_model("other")
    stats.count_response(served.pk, 100, 0, 100)
    stats.count_response(served.pk, 100, 0, 40)
    assert stats.of_model(user, served.pk) == ModelUsage(served.pk, 1, 140, 0)
    assert stats.of_model(user, other.pk) == ModelUsage(other.pk)
    with pytest.raises(NotAuthenticated):
        stats.of_model(None, served.pk)
    with pytest.raises(NotFound):
        stats.of_model(user, 999)

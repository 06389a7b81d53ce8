"""``modelhub stats``: the summary line and the top models, from the
figures the server recorded."""

from __future__ import annotations

import pytest

from domain.permissions import SYSTEM
from domain.services.stats import Savings
from entrypoints.cli.main import main
from entrypoints.cli.stats import summary
from tests.integration.conftest import Batch

GIB = 1024**3


def add_models(batch: Batch, *names: str) -> list[int]:
    registry = batch.registry()
    try:
        with registry.transaction() as services:
            framework = services.frameworks.create(SYSTEM, {"name": "pytorch", "version": "2"})
            services.uow.session.flush()
            created = [
                services.models.create(
                    SYSTEM,
                    {
                        "framework": framework.pk,
                        "domain": "ic",
                        "licence": "MIT",
                        "url": f"https://example.org/{name}",
                        "description": "",
                        "name": name,
                    },
                )
                for name in names
            ]
            services.uow.session.flush()
            return [model.pk for model in created]
    finally:
        registry.dispose()


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as leaving:
        main(["stats", "--help"])
    assert leaving.value.code == 0
    assert "--top N" in capsys.readouterr().out


def test_stats_shows_the_totals_and_the_top_models(batch: Batch) -> None:
    assert batch.run("initdb").code == 0
    outcome = batch.run("stats")
    assert (outcome.code, outcome.out) == (
        0,
        "served 0 bytes in 0 downloads, nothing fetched upstream\n",
    )

    resnet, bert, _idle = add_models(batch, "resnet", "bert", "idle")
    registry = batch.registry()
    for _ in range(3):
        registry.usage.served(resnet, 40 * GIB, download=True)
    registry.usage.served(bert, 512, download=True)
    registry.usage.served(bert, 100, download=False)
    registry.usage.fetched(resnet, 2 * GIB)
    registry.dispose()  # writes what is queued

    outcome = batch.run("stats")
    assert outcome.code == 0
    assert outcome.out.splitlines() == [
        f"  1. model {resnet} 'resnet': served 120.0 GiB in 3 downloads, fetched 2.0 GiB",
        f"  2. model {bert} 'bert': served 612 bytes in 1 download, fetched 0 bytes",
        "served 120.0 GiB in 4 downloads from 2.0 GiB fetched upstream (60x)",
    ]

    outcome = batch.run("stats", "--top", "1")
    assert len(outcome.out.splitlines()) == 2
    assert batch.run("stats", "--top", "0").out.splitlines() == [
        "served 120.0 GiB in 4 downloads from 2.0 GiB fetched upstream (60x)"
    ]

    outcome = batch.run("stats", "--top", "1001")
    assert outcome.code == 1
    assert outcome.err == "error: top: A whole number from 0 to 1000.\n"


def test_the_summary_line() -> None:
    assert summary(Savings(3400, 120 * GIB, int(2.1 * GIB), [])) == (
        "served 120.0 GiB in 3,400 downloads from 2.1 GiB fetched upstream (57x)"
    )
    assert summary(Savings(1, 3 * 1024, 2 * 1024, [])) == (
        "served 3.0 KiB in 1 download from 2.0 KiB fetched upstream (1.5x)"
    )
    assert summary(Savings(0, 0, 5, [])) == (
        "served 0 bytes in 0 downloads from 5 bytes fetched upstream (0.0x)"
    )

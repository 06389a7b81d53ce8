"""``modelhub import --catalogue ufdl`` in-process on SQLite: UFDL's
frameworks and pretrained models, their files left upstream."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import pytest
import webtest
from pyramid.paster import get_app

from adapters.http_fetch import HttpFetcher
from entrypoints.cli.main import main
from tests.integration.conftest import Batch, entry

UFDL = json.loads(files("domain.catalogue").joinpath("ufdl.json").read_text(encoding="utf-8"))
MODELS = """
SELECT m.name, f.name || '|' || f.version, d.name, l.name, m.url, m.description, m.metadata,
       m.source, m.source_sha256, m.data_sha256, m.deletion_time
FROM pretrained_models m
JOIN frameworks f ON f.id = m.framework_id
JOIN domains d ON d.id = m.domain_id
JOIN licences l ON l.id = m.licence_id
ORDER BY m.id
"""


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every location the command's fetcher is asked to open (none answers)."""
    locations: list[str] = []

    def refuse(self: HttpFetcher, location: str, relative_to: str | None = None) -> Any:
        locations.append(location)
        raise AssertionError(f"fetched {location}")

    monkeypatch.setattr(HttpFetcher, "open", refuse)
    return locations


def test_import_adds_ufdls_frameworks_and_remote_models_then_changes_nothing(
    batch: Batch, opened: list[str]
) -> None:
    assert batch.run("initdb").code == 0

    first = batch.run("import", "--catalogue", "ufdl")

    assert first.code == 0, first.err
    assert "16 frameworks: 16 created, 0 unchanged, 0 failed" in first.out
    assert "16 entries: 16 created, 0 updated, 0 unchanged, 0 files stored, 0 failed" in first.out
    # In a new registry the frameworks take UFDL's pks.
    assert batch.rows("SELECT id, name, version FROM frameworks ORDER BY id") == [
        (f["pk"], f["name"], f["version"]) for f in UFDL["frameworks"]
    ]
    models = batch.rows(MODELS)
    assert models == [
        (m["name"], m["framework"], m["domain"], m["licence"], m["url"], m["description"],
         m["metadata"], m["source"], None, None, None)
        for m in UFDL["pretrained_models"]
    ]  # fmt: skip
    assert opened == [] and batch.blob_files() == {}

    second = batch.run("import", "--catalogue", "ufdl")

    assert second.code == 0, second.err
    assert "16 frameworks: 0 created, 16 unchanged, 0 failed" in second.out
    assert "16 entries: 0 created, 0 updated, 16 unchanged, 0 files stored, 0 failed" in second.out
    lines = second.out.splitlines()
    assert sum(line.endswith(": unchanged") for line in lines) == 16
    assert sum(line.endswith(": model unchanged, file remote") for line in lines) == 16
    assert batch.rows(MODELS) == models
    assert batch.rows("SELECT count(*) FROM frameworks") == [(16,)]
    assert opened == [] and batch.blob_files() == {}


def test_the_api_shows_the_imported_models_as_remote(batch: Batch, opened: list[str]) -> None:
    batch.run("initdb")
    batch.run("import", "--catalogue", "ufdl")
    batch.run("user", "add", "root", "--admin", stdin="root secret\n")
    app = webtest.TestApp(get_app(batch.ini))
    token = app.post_json("/v1/auth/obtain", {"username": "root", "password": "root secret"})
    headers = {"Authorization": f"Bearer {token.json['access']}"}
    listed = app.post_json("/v1/pretrained-models/list", {}, headers=headers).json
    assert [m["name"] for m in listed] == [m["name"] for m in UFDL["pretrained_models"]]
    assert {(m["data_state"], m["data"], m["data_size"]) for m in listed} == {
        ("remote", True, None)
    }
    yolo = next(m for m in listed if m["name"] == "yolov5m_v6.0")
    assert (yolo["licence"], yolo["domain"], yolo["framework"]["name"]) == (
        "GPL3",
        "Object Detection",
        "yolo",
    )
    assert (
        yolo["source"] == "https://github.com/ultralytics/yolov5/releases/download/v6.0/yolov5m.pt"
    )
    assert opened == []


def test_a_dry_run_changes_nothing(batch: Batch, opened: list[str]) -> None:
    batch.run("initdb")
    dry = batch.run("import", "--catalogue", "ufdl", "--dry-run")
    assert dry.code == 0, dry.err
    assert "16 frameworks: 16 created, 0 unchanged, 0 failed (dry run" in dry.out
    assert "16 entries: 16 created" in dry.out
    assert batch.rows("SELECT count(*) FROM pretrained_models, frameworks") == [(0,)]
    assert opened == []


def test_a_manifest_may_name_a_licence_by_its_spdx_identifier(batch: Batch) -> None:
    batch.run("initdb")
    manifest = batch.root / "manifest.json"
    manifest.write_text(json.dumps([entry("alpha", licence="Apache-2.0")]))
    first = batch.run("import", str(manifest))
    assert first.code == 0 and "1 created" in first.out
    assert batch.rows(
        "SELECT l.name FROM pretrained_models m JOIN licences l ON l.id = m.licence_id"
    ) == [("Apache 2.0",)]
    again = batch.run("import", str(manifest))
    assert again.code == 0 and "0 updated, 1 unchanged" in again.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "one of the arguments manifest --catalogue is required"),
        (["m.json", "--catalogue", "ufdl"], "not allowed with argument"),
        (["--catalogue", "ufdl2"], "invalid choice: 'ufdl2'"),
    ],
)
def test_a_manifest_or_a_catalogue_exactly(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as leaving:
        main(["import", *args])
    assert leaving.value.code == 2
    assert message in capsys.readouterr().err


def test_the_help_names_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    assert "--catalogue {ufdl}" in capsys.readouterr().out

"""``modelhub`` subcommands in-process on SQLite and a real blob folder:
each test checks the rows and files a command leaves, not only its exit code."""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import webtest
from pyramid.paster import get_app

from domain.permissions import SYSTEM
from entrypoints.cli.main import main
from entrypoints.cli.parser import build_parser
from tests.integration.conftest import Batch, entry, new_model

ALPHA, BETA = b"alpha weights " * 100, b"beta weights " * 50


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_manifest(folder: Path, entries: list[Any], name: str = "manifest.json") -> str:
    path = folder / name
    path.write_text(json.dumps(entries))
    return str(path)


@pytest.fixture
def models_on_disk(batch: Batch) -> str:
    """An initialised registry and a manifest of two models with local files."""
    assert batch.run("initdb").code == 0
    (batch.root / "alpha.pth").write_bytes(ALPHA)
    (batch.root / "beta.pth").write_bytes(BETA)
    return write_manifest(
        batch.root,
        [entry("alpha", "alpha.pth", sha256=sha(ALPHA)), entry("beta", "beta.pth")],
    )


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (
        [],
        ["initdb"],
        ["user"],
        ["user", "add"],
        ["user", "passwd"],
        ["user", "deactivate"],
        ["import"],
        ["export"],
        ["verify"],
        ["gc"],
        ["purge"],
    ):
        with pytest.raises(SystemExit) as leaving:
            main([*command, "--help"])
        assert leaving.value.code == 0
        assert f"usage: modelhub {' '.join(command)}".strip() in capsys.readouterr().out


def test_deleted_before_takes_iso_dates_and_times_in_utc_unless_zoned(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def deleted_before(text: str) -> datetime:
        return build_parser().parse_args(["purge", "--deleted-before", text]).deleted_before

    assert deleted_before("2026-01-31") == datetime(2026, 1, 31, tzinfo=UTC)
    assert deleted_before("2026-01-31T12:00:00") == datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert deleted_before("2026-01-31T12:00:00+01:00") == datetime(2026, 1, 31, 11, tzinfo=UTC)
    assert deleted_before("2026-01-31T12:00Z") == datetime(2026, 1, 31, 12, tzinfo=UTC)
    with pytest.raises(SystemExit) as leaving:
        deleted_before("last tuesday")
    assert leaving.value.code == 2
    assert "--deleted-before: not an ISO date or time: 'last tuesday'" in capsys.readouterr().err


def test_initdb_is_safe_to_run_twice_and_other_commands_need_it(batch: Batch) -> None:
    missing = batch.run("verify")
    assert missing.code == 1 and "run `modelhub initdb` first" in missing.err
    first = batch.run("initdb")
    assert first.code == 0 and "19 seed rows added" in first.out
    second = batch.run("initdb")
    assert second.code == 0 and "0 seed rows added" in second.out
    assert batch.rows("SELECT count(*) FROM domains") == [(5,)]


def test_users_are_added_given_a_new_password_and_deactivated(batch: Batch) -> None:
    batch.run("initdb")
    added = batch.run("user", "add", "root", "--admin", stdin="first secret\n")
    assert added.code == 0 and "created admin 'root'" in added.out
    ((staff, first_hash, generation),) = batch.rows(
        "SELECT is_staff, password_hash, token_generation FROM users WHERE username = 'root'"
    )
    assert staff and first_hash.startswith("$argon2") and "first secret" not in first_hash

    assert batch.run("user", "passwd", "root", stdin="second secret\n").code == 0
    ((second_hash, second_generation),) = batch.rows(
        "SELECT password_hash, token_generation FROM users WHERE username = 'root'"
    )
    assert second_hash != first_hash and second_generation == generation + 1

    assert batch.run("user", "deactivate", "root").code == 0
    assert batch.rows("SELECT is_active FROM users WHERE username = 'root'") == [(0,)]

    unknown = batch.run("user", "passwd", "nobody", stdin="whatever\n")
    assert unknown.code == 1 and "no account named 'nobody'" in unknown.err
    empty = batch.run("user", "add", "carol", stdin="\n")
    assert empty.code == 1 and "password: This field may not be blank." in empty.err
    assert batch.rows("SELECT count(*) FROM users") == [(1,)]


def test_import_of_local_files_then_reimport_changes_nothing(
    batch: Batch, models_on_disk: str
) -> None:
    dry = batch.run("import", models_on_disk, "--dry-run")
    assert dry.code == 0 and "2 created" in dry.out and "dry run" in dry.out
    assert batch.rows("SELECT count(*) FROM pretrained_models, frameworks") == [(0,)]

    first = batch.run("import", models_on_disk)
    assert first.code == 0, first.err
    assert "2 created, 0 updated, 0 unchanged, 2 files stored, 0 failed" in first.out
    rows = batch.rows(
        "SELECT m.name, f.name, f.version, m.data_sha256, m.data_size FROM pretrained_models m"
        " JOIN frameworks f ON f.id = m.framework_id ORDER BY m.name"
    )
    assert rows == [
        ("alpha", "pytorch", "2.4", sha(ALPHA), len(ALPHA)),
        ("beta", "pytorch", "2.4", sha(BETA), len(BETA)),
    ]
    assert batch.blob_files() == {sha(ALPHA): ALPHA, sha(BETA): BETA}
    times = batch.rows("SELECT data_time FROM pretrained_models ORDER BY name")

    again = batch.run("import", models_on_disk)
    assert again.code == 0
    assert "0 created, 0 updated, 2 unchanged, 0 files stored, 0 failed" in again.out
    assert batch.rows("SELECT data_time FROM pretrained_models ORDER BY name") == times
    assert batch.rows("SELECT sha256, refcount FROM blobs ORDER BY sha256") == sorted(
        [(sha(ALPHA), 1), (sha(BETA), 1)]
    )


def test_export_round_trips_into_another_registry(
    batch: Batch, models_on_disk: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    batch.run("import", models_on_disk)
    files = batch.root / "exported"
    manifest = batch.root / "exported.json"
    done = batch.run("export", "--files", str(files), "-o", str(manifest))
    assert done.code == 0 and "exported 2 models, 2 files" in done.err
    assert sorted(p.name for p in files.iterdir()) == sorted(
        [f"{sha(ALPHA)}.data", f"{sha(BETA)}.data"]
    )
    exported = json.loads(manifest.read_text())
    assert [e["file"] for e in exported] == [
        str(files / f"{sha(ALPHA)}.data"),
        str(files / f"{sha(BETA)}.data"),
    ]
    plain = json.loads(batch.run("export").out)
    assert [e["sha256"] for e in plain] == [sha(ALPHA), sha(BETA)]
    assert all("file" not in e for e in plain)

    other = Batch(tmp_path_factory.mktemp("other"), batch.capsys)
    (other.root / "test.ini").write_text((batch.root / "test.ini").read_text())
    other.run("initdb")
    imported = other.run("import", str(manifest))
    assert imported.code == 0 and "2 created" in imported.out and "2 files stored" in imported.out
    query = (
        "SELECT m.name, m.url, m.description, m.metadata, d.name, l.name, m.data_sha256"
        " FROM pretrained_models m JOIN domains d ON d.id = m.domain_id"
        " JOIN licences l ON l.id = m.licence_id ORDER BY m.name"
    )
    assert other.rows(query) == batch.rows(query)
    assert other.blob_files() == batch.blob_files()
    assert json.loads(other.run("export").out) == json.loads(batch.run("export").out)


def test_manifest_rules_fail_with_the_api_message(batch: Batch, models_on_disk: str) -> None:
    bad = {
        "domain": entry("bad-domain", domain="no-such-domain"),
        "url": entry("bad-url", url="ftp:/nowhere"),
        "name": entry(""),
    }
    manifest = write_manifest(batch.root, [*bad.values(), entry("good")], "rules.json")
    outcome = batch.run("import", manifest)
    assert outcome.code == 1
    assert "1 created" in outcome.out and "3 failed" in outcome.out
    assert batch.rows("SELECT name FROM pretrained_models WHERE name = 'good'") == [("good",)]

    # The same bodies through the HTTP API give the same messages.
    batch.run("user", "add", "root", "--admin", stdin="root secret\n")
    app = webtest.TestApp(get_app(batch.ini))
    token = app.post_json("/v1/auth/obtain", {"username": "root", "password": "root secret"})
    headers = {"Authorization": f"Bearer {token.json['access']}"}
    framework = app.post_json(
        "/v1/frameworks/create", {"name": "api", "version": "1"}, headers=headers
    ).json["pk"]
    for field, body in bad.items():
        answer = app.post_json(
            "/v1/pretrained-models/create",
            {**body, "framework": framework},
            headers=headers,
            status=400,
        )
        (message,) = answer.json[field]
        assert f"{field}: {message}" in outcome.err


def test_verify_detects_a_blob_corrupted_on_disk(batch: Batch, models_on_disk: str) -> None:
    batch.run("import", models_on_disk)
    clean = batch.run("verify")
    assert clean.code == 0
    assert "checked 2 files: 0 missing, 0 corrupt, 0 without a model" in clean.out

    path = batch.blob_path(sha(ALPHA))
    path.write_bytes(ALPHA[:-1] + b"!")
    stray = batch.blob_path(sha(b"stray"))
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"stray")
    broken = batch.run("verify")
    assert broken.code == 1
    assert "0 missing, 1 corrupt, 1 without a model" in broken.out
    assert f"corrupt: {sha(ALPHA)}" in broken.err
    assert f"no model: {sha(b'stray')}" in broken.err

    batch.blob_path(sha(BETA)).unlink()
    assert f"missing: {sha(BETA)}" in batch.run("verify").err


def test_verify_repair_recounts_a_damaged_registry(batch: Batch, models_on_disk: str) -> None:
    """Counts that lost updates left wrong, and an upload's blob counted once
    that no model uses: ``verify --repair`` sets them to the models' use,
    and the unused blob goes with the repair's commit."""
    batch.run("import", models_on_disk)
    batch.execute(f"UPDATE blobs SET refcount = 0 WHERE sha256 = '{sha(ALPHA)}'")
    lost = batch.blob_path(sha(b"lost race"))
    lost.parent.mkdir(parents=True)
    lost.write_bytes(b"lost race")
    batch.execute(f"INSERT INTO blobs VALUES ('{sha(b'lost race')}', 9, 1)")
    damaged = batch.run("verify")
    assert damaged.code == 1 and "2 miscounted" in damaged.out

    repaired = batch.run("verify", "--repair")
    assert repaired.code == 0, repaired.err
    assert "0 miscounted" in repaired.out and "2 counts repaired" in repaired.out
    assert f"repaired count: {sha(ALPHA)} is counted 0 times but used by 1 models" in repaired.out
    assert not lost.exists()
    assert sorted(batch.rows("SELECT refcount FROM blobs")) == [(1,), (1,)]
    assert batch.run("verify", "--repair").out.endswith("0 counts repaired\n")


def test_verify_names_upload_leftovers(batch: Batch, models_on_disk: str) -> None:
    batch.run("import", models_on_disk)
    leftover = batch.blob_root / "tmp" / f"upload-{'c' * 32}.part"
    leftover.write_bytes(b"x" * 7)
    outcome = batch.run("verify")
    assert outcome.code == 0 and "1 temporary files" in outcome.out
    assert f"temporary file: {leftover.name} (7 bytes" in outcome.out


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_gc_removes_orphans_and_stale_temporaries_but_not_referenced_blobs(
    batch: Batch, models_on_disk: str
) -> None:
    batch.run("import", models_on_disk)
    referenced = batch.blob_path(sha(ALPHA))
    _age(referenced, 7200)
    orphan, young = batch.blob_path(sha(b"orphan")), batch.blob_path(sha(b"young"))
    for path, data in ((orphan, b"orphan"), (young, b"young")):
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
    _age(orphan, 7200)
    tmp = batch.blob_root / "tmp"
    stale, fresh = tmp / f"upload-{'a' * 32}.part", tmp / f"upload-{'b' * 32}.part"
    stale.write_bytes(b"x" * 100)
    fresh.write_bytes(b"y" * 10)
    _age(stale, 7200)

    dry = batch.run("gc", "--dry-run", "--grace", "600")
    assert dry.code == 0 and "would free 106 bytes: 1 blobs, 1 temporary files" in dry.out
    assert orphan.exists() and stale.exists()

    done = batch.run("gc", "--grace", "600")
    assert done.code == 0 and "freed 106 bytes: 1 blobs, 1 temporary files" in done.out
    assert sha(b"orphan") in done.out
    assert not orphan.exists() and not stale.exists()
    assert referenced.read_bytes() == ALPHA and young.exists() and fresh.exists()
    assert batch.blob_path(sha(BETA)).exists()
    assert batch.rows("SELECT count(*) FROM blobs") == [(2,)]
    assert batch.run("verify").code == 1  # the young orphan is still there


def test_gc_removes_the_upload_bodies_a_crashed_proxy_left(
    batch: Batch, models_on_disk: str
) -> None:
    incoming = batch.root / "var" / "incoming"
    incoming.mkdir(parents=True)
    with open(batch.ini, "a") as ini:
        ini.write(f"modelhub.proxy_body_dir = {incoming}\nmodelhub.proxy_body_max_age = 10800\n")
    batch.run("import", models_on_disk)
    left, arriving = incoming / "0000000001", incoming / "0000000002"
    left.write_bytes(b"l" * 300)
    arriving.write_bytes(b"a" * 20)
    foreign = incoming / "README"
    foreign.write_text("not nginx's")
    _age(left, 4 * 3600)  # past modelhub.proxy_body_max_age (3 hours)
    _age(arriving, 2 * 3600)  # past --grace, not the age limit: maybe an upload
    _age(foreign, 4 * 3600)

    counts = "0 blobs, 0 temporary files, 0 expired uploads, 1 proxy body files"
    dry = batch.run("gc", "--dry-run", "--grace", "600")
    assert dry.code == 0, dry.err
    assert f"would remove proxy body file 0000000001 (300 bytes) in {incoming}" in dry.out
    assert f"would free 300 bytes: {counts} (dry run)" in dry.out
    assert left.exists()

    done = batch.run("gc", "--grace", "600")
    assert done.code == 0, done.err
    assert f"removed proxy body file 0000000001 (300 bytes) in {incoming}" in done.out
    assert f"freed 300 bytes: {counts}\n" in done.out
    assert sorted(p.name for p in incoming.iterdir()) == ["0000000002", "README"]
    assert batch.run("verify").code == 0  # the models' files are untouched


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


def test_purge_removes_only_models_deleted_before_the_date(
    batch: Batch, models_on_disk: str
) -> None:
    (batch.root / "gamma.pth").write_bytes(ALPHA)  # the same bytes as alpha
    batch.run("import", models_on_disk)
    batch.run("import", write_manifest(batch.root, [entry("gamma", "gamma.pth")], "g.json"))
    pks = dict(batch.rows("SELECT name, id FROM pretrained_models"))
    clock = FixedClock(datetime(2026, 1, 10, tzinfo=UTC))
    registry = batch.registry(clock=clock)
    try:
        with registry.transaction() as services:
            services.models.soft_delete(SYSTEM, pks["alpha"])
            services.models.soft_delete(SYSTEM, pks["beta"])
        clock.current = datetime(2026, 3, 1, tzinfo=UTC)
        with registry.transaction() as services:
            services.models.soft_delete(SYSTEM, pks["gamma"])
    finally:
        registry.dispose()

    dry = batch.run("purge", "--deleted-before", "2026-02-01", "--dry-run")
    assert dry.code == 0 and "would purge 2 models" in dry.out
    assert batch.rows("SELECT count(*) FROM pretrained_models") == [(3,)]

    done = batch.run("purge", "--deleted-before", "2026-02-01")
    assert done.code == 0 and "purged 2 models soft-deleted before 2026-02-01" in done.out
    assert batch.rows("SELECT name FROM pretrained_models") == [("gamma",)]
    # beta's bytes are gone; alpha's stay, since gamma has the same bytes.
    assert batch.blob_files() == {sha(ALPHA): ALPHA}
    assert batch.rows("SELECT sha256, refcount FROM blobs") == [(sha(ALPHA), 1)]


def test_gc_removes_expired_resumable_uploads_and_their_bytes(batch: Batch) -> None:
    assert batch.run("initdb").code == 0
    registry = batch.registry()
    try:
        with registry.transaction() as services:
            admin = services.users.create(
                SYSTEM, {"username": "admin", "password": "admin-secret-1", "is_staff": True}
            )
            model = new_model(services)
            kept, expired = (services.uploads.create(admin, model.pk, 10) for _ in "ab")
            kept_id, expired_id = kept.id, expired.id
    finally:
        registry.dispose()
    tmp = batch.blob_root / "tmp"
    for name in (kept_id, expired_id):
        (tmp / f"upload-{name}.part").write_bytes(b"z" * 4)
        _age(tmp / f"upload-{name}.part", 7200)  # older than the grace period: no matter
    batch.execute(f"UPDATE uploads SET expires = '2000-01-01 00:00:00' WHERE id = '{expired_id}'")

    dry = batch.run("gc", "--dry-run", "--grace", "600")
    assert dry.code == 0 and f"would remove expired upload {expired_id} (4 bytes)" in dry.out
    assert "0 temporary files, 1 expired uploads (dry run)" in dry.out
    done = batch.run("gc", "--grace", "600")

    assert (
        done.code == 0
        and "freed 4 bytes: 0 blobs, 0 temporary files, 1 expired uploads" in done.out
    )
    assert batch.rows("SELECT id FROM uploads") == [(kept_id,)]
    assert [p.name for p in tmp.iterdir()] == [f"upload-{kept_id}.part"]

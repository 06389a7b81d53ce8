"""Reading the ``[app:main]`` settings: defaults, conversions and bounds."""

from __future__ import annotations

import re
import socket
from dataclasses import MISSING, fields
from datetime import timedelta
from pathlib import Path

import pytest
from pyramid.paster import get_appsettings

from adapters.http_fetch import HttpFetcher
from domain.errors import SourceUnavailable
from entrypoints.settings import INI_KEYS, Settings, SettingsError, load_settings
from entrypoints.web import server_threads

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {
    "sqlalchemy.url": "sqlite://",
    "modelhub.blob_root": "/srv/blobs",
    "modelhub.jwt_key": "a-signing-key",
}
INTEGER_KEYS = [
    "modelhub.max_file_size",
    "modelhub.access_token_lifetime",
    "modelhub.refresh_token_lifetime",
    "modelhub.session_lifetime",
    "modelhub.login_failures_per_username",
    "modelhub.login_failures_per_address",
    "modelhub.login_failure_window",
    "modelhub.fetch_timeout",
    "modelhub.fetch_retries",
    "modelhub.fetch_lease",
    "modelhub.db_pool_size",
    "modelhub.db_pool_timeout",
    "modelhub.s3_redirect_lifetime",
    "modelhub.upload_lifetime",
    "modelhub.proxy_body_max_age",
]
TEXT_KEYS = [
    "modelhub.blob_store",
    "modelhub.s3_bucket",
    "modelhub.s3_endpoint",
    "modelhub.s3_region",
    "modelhub.s3_prefix",
    "modelhub.s3_staging_dir",
    "modelhub.accel_redirect",
    "modelhub.proxy_body_dir",
]
BOOLEAN_KEYS = ["modelhub.auto_migrate", "modelhub.s3_redirect"]


def load(**values: str) -> Settings:
    return load_settings({**REQUIRED, **{f"modelhub.{k}": v for k, v in values.items()}})


def test_every_optional_setting_left_out_takes_its_default() -> None:
    settings = load_settings(REQUIRED)

    assert settings == Settings(
        database_url="sqlite://", blob_root=Path("/srv/blobs"), jwt_key="a-signing-key"
    )
    assert (settings.max_file_size, settings.auto_migrate) == (20 * 1024**3, False)
    assert (settings.fetch_timeout, settings.fetch_retries) == (30, 3)
    assert settings.access_lifetime == timedelta(minutes=5)
    assert settings.login_failure_window == timedelta(minutes=1)
    assert settings.fetch_lease == timedelta(seconds=30)
    assert settings.upload_lifetime == timedelta(hours=24)
    assert settings.proxy_body_max_age == timedelta(days=1)


def test_these_tests_know_every_optional_setting() -> None:
    optional = [f.name for f in fields(Settings) if f.default is not MISSING]
    assert sorted(INI_KEYS) == sorted(optional)
    assert sorted(INI_KEYS.values()) == sorted([*INTEGER_KEYS, *TEXT_KEYS, *BOOLEAN_KEYS])


def test_accel_redirect_is_a_uri_prefix_or_empty() -> None:
    assert load_settings(REQUIRED).accel_redirect == ""
    assert load(accel_redirect="").accel_redirect == ""
    assert load(accel_redirect="/_blobs/").accel_redirect == "/_blobs/"
    for bad in ("_blobs/", "/_blobs", "/a b/"):
        with pytest.raises(SettingsError, match="accel_redirect"):
            load(accel_redirect=bad)


def test_the_proxy_body_dir_is_an_absolute_path_or_empty() -> None:
    assert load_settings(REQUIRED).proxy_body_dir == ""
    assert load(proxy_body_dir="/srv/modelhub/incoming").proxy_body_dir == "/srv/modelhub/incoming"
    with pytest.raises(SettingsError, match="proxy_body_dir"):
        load(proxy_body_dir="incoming")


def test_the_s3_settings_are_read() -> None:
    settings = load(
        blob_store="s3",
        s3_bucket="models",
        s3_endpoint="http://minio:9000",
        s3_region="eu-west-1",
        s3_prefix="hub/",
        s3_staging_dir="/var/staging",
        s3_redirect="true",
        s3_redirect_lifetime="60",
    )

    assert (settings.blob_store, settings.s3_bucket, settings.s3_prefix) == ("s3", "models", "hub/")
    assert (settings.s3_endpoint, settings.s3_region) == ("http://minio:9000", "eu-west-1")
    assert (settings.s3_staging_dir, settings.s3_redirect) == ("/var/staging", True)
    assert settings.s3_redirect_lifetime == timedelta(seconds=60)
    defaults = load_settings(REQUIRED)
    assert (defaults.blob_store, defaults.s3_redirect) == ("filesystem", False)
    assert defaults.s3_redirect_lifetime == timedelta(seconds=300)


def test_an_unknown_blob_store_is_refused_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match=r"modelhub\.blob_store.*filesystem or s3"):
        load(blob_store="ftp")


def test_an_s3_store_needs_a_bucket() -> None:
    with pytest.raises(SettingsError, match=r"modelhub\.s3_bucket"):
        load(blob_store="s3")


def test_values_given_replace_the_defaults() -> None:
    settings = load(
        max_file_size="1024",
        access_token_lifetime="60",
        login_failure_window="90",
        fetch_retries="7",
        auto_migrate="yes",
        db_pool_timeout=" 4 ",
        upload_lifetime="3600",
        session_lifetime="1800",
        proxy_body_max_age="7200",
    )

    assert settings.max_file_size == 1024
    assert settings.access_lifetime == timedelta(seconds=60)
    assert settings.login_failure_window == timedelta(seconds=90)
    assert (settings.fetch_retries, settings.auto_migrate, settings.db_pool_timeout) == (7, True, 4)
    assert settings.upload_lifetime == timedelta(hours=1)
    assert settings.session_lifetime == timedelta(minutes=30)
    assert settings.proxy_body_max_age == timedelta(hours=2)


@pytest.mark.parametrize("text", ["true", "On", "1", "YES"])
def test_true_in_any_usual_spelling(text: str) -> None:
    assert load(auto_migrate=text).auto_migrate is True


@pytest.mark.parametrize("text", ["false", "Off", "0", "no"])
def test_false_in_any_usual_spelling(text: str) -> None:
    assert load(auto_migrate=text).auto_migrate is False


@pytest.mark.parametrize("text", ["maybe", "", "2"])
def test_a_bad_boolean_is_refused_naming_the_setting(text: str) -> None:
    with pytest.raises(SettingsError, match=r"'modelhub\.auto_migrate' must be true or false"):
        load(auto_migrate=text)


@pytest.mark.parametrize("key", INTEGER_KEYS)
@pytest.mark.parametrize("text", ["ten", "1.5", "1e9", ""])
def test_a_bad_integer_is_refused_naming_the_setting(key: str, text: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(f"'{key}' must be an integer, not '{text}'")):
        load_settings({**REQUIRED, key: text})


def test_no_retries_at_all_is_allowed() -> None:
    assert load(fetch_retries="0").fetch_retries == 0


def test_no_retries_means_a_single_attempt() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: connections are refused
    fetcher = HttpFetcher(timeout=5, retries=load(fetch_retries="0").fetch_retries)

    with pytest.raises(SourceUnavailable, match=r"\(gave up after 1 attempt\)"):
        fetcher.open(f"http://127.0.0.1:{port}/model.bin")


def test_a_negative_retry_count_is_refused() -> None:
    with pytest.raises(
        SettingsError, match=r"'modelhub\.fetch_retries' must be at least 0, not -1"
    ):
        load(fetch_retries="-1")


@pytest.mark.parametrize("key", [k for k in INTEGER_KEYS if k != "modelhub.fetch_retries"])
@pytest.mark.parametrize("text", ["0", "-3"])
def test_other_numbers_must_be_positive(key: str, text: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(f"'{key}' must be positive")):
        load_settings({**REQUIRED, key: text})


def test_an_optional_setting_may_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELHUB_TEST_RETRIES", "5")
    assert load(fetch_retries="env:MODELHUB_TEST_RETRIES").fetch_retries == 5

    monkeypatch.delenv("MODELHUB_TEST_RETRIES")
    with pytest.raises(SettingsError, match="reads \\$MODELHUB_TEST_RETRIES, which is not set"):
        load(fetch_retries="env:MODELHUB_TEST_RETRIES")


@pytest.mark.parametrize("key", ["sqlalchemy.url", "modelhub.blob_root"])
def test_a_required_setting_left_out_is_named(key: str) -> None:
    raw = dict(REQUIRED)
    del raw[key]
    with pytest.raises(SettingsError, match=re.escape(f"setting '{key}' is required")):
        load_settings(raw)


def test_the_pool_size_given_wins_over_the_server_threads() -> None:
    assert load_settings(REQUIRED).db_pool_size == Settings.db_pool_size
    assert load_settings(REQUIRED, server_threads=6).db_pool_size == 8
    assert load_settings({**REQUIRED, "modelhub.db_pool_size": "3"}, 6).db_pool_size == 3


def test_a_bad_thread_count_is_named(tmp_path: Path) -> None:
    ini = tmp_path / "server.ini"
    ini.write_text("[app:main]\nuse = egg:modelhub\n\n[server:main]\nthreads = many\n")
    with pytest.raises(SettingsError, match="'threads' must be an integer, not 'many'"):
        server_threads({"__file__": str(ini)})


def test_the_shipped_ini_files_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    development = dict(get_appsettings(str(ROOT / "development.ini")))
    development["modelhub.jwt_key_file"] = str(tmp_path / "jwt.key")
    assert load_settings(development).auto_migrate is True

    monkeypatch.setenv("MODELHUB_DATABASE_URL", "postgresql+psycopg://modelhub@db/modelhub")
    monkeypatch.setenv("MODELHUB_BLOB_ROOT", str(tmp_path / "blobs"))
    monkeypatch.setenv("MODELHUB_JWT_KEY", "x" * 48)
    production = load_settings(get_appsettings(str(ROOT / "production.ini")))
    assert (production.auto_migrate, production.blob_root) == (False, tmp_path / "blobs")
    assert production.max_file_size == load_settings(development).max_file_size

"""``GET /metrics`` (Prometheus text format) and the access log: requests by
route name and status, latency, bytes served and received, downloads in
progress, upstream transfers; one log line per request."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import webtest
from prometheus_client.parser import text_string_to_metric_families

from entrypoints.web import make_app
from tests.integration.upstream_server import UpstreamServer
from tests.integration.web.conftest import Api, LiveServer, make_registry
from tests.integration.web.test_upstream import Live, live, upstream  # noqa: F401 - fixtures

BASE = "/v1/pretrained-models"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(api: Api) -> str:
    response = api.app.get("/metrics", status=200)
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return response.text


def test_requests_bytes_and_latency_by_route_name(api: Api) -> None:
    data = os.urandom(3000)
    pk = api.model()["pk"]
    api.upload(pk, data, status=200)
    assert api.app.get(f"{BASE}/{pk}/download", headers=api.user).body == data
    for other in (pk, 999, 1000):
        api.app.get(f"{BASE}/{other}", headers=api.user, expect_errors=True)
    api.app.get("/no/such/path", status=404)

    text = scrape(api)
    total = "modelhub_http_requests_total"
    assert value(text, total, route="models.data", method="POST", status="200") == 1
    assert value(text, total, route="models.download", method="GET", status="200") == 1
    # Paths with different pks are one route: the label sets stay few.
    assert value(text, total, route="models.item", method="GET", status="200") == 1
    assert value(text, total, route="models.item", method="GET", status="404") == 2
    assert value(text, total, route="unmatched", method="GET", status="404") == 1
    assert not any("/v1/" in labels for labels in text.splitlines() if labels.startswith(total))
    assert value(text, "modelhub_http_request_duration_seconds_count", route="models.item") == 3
    assert value(text, "modelhub_upload_bytes_received_total") == len(data)
    assert value(text, "modelhub_download_bytes_served_total") == len(data)
    assert value(text, "modelhub_downloads_total") == 1
    assert value(text, "modelhub_downloads_in_progress") == 0


@pytest.mark.parametrize(
    ("access", "anonymous", "user", "admin"),
    [("public", 200, 200, 200), ("admin", 401, 403, 200), ("off", 404, 404, 404)],
)
def test_who_may_read_the_metrics(
    api: Api, access: str, anonymous: int, user: int, admin: int
) -> None:
    app = webtest.TestApp(make_app(api.registry, {"modelhub.metrics": access}))
    app.get("/metrics", status=anonymous)
    app.get("/metrics", headers=api.user, status=user)
    app.get("/metrics", headers=api.admin, status=admin)


def test_an_unknown_access_setting_is_refused(api: Api) -> None:
    with pytest.raises(ValueError, match=r"modelhub\.metrics"):
        make_app(api.registry, {"modelhub.metrics": "everyone"})


def test_each_instance_counts_its_own_requests(sqlite_url: str, tmp_path: Path) -> None:
    first, second = (make_registry(sqlite_url, tmp_path / "blobs") for _ in range(2))
    try:
        apps = [webtest.TestApp(make_app(r)) for r in (first, second)]
        apps[0].get("/healthz", expect_errors=True)
        counts = [
            value(
                app.get("/metrics").text,
                "modelhub_http_requests_total",
                route="healthz",
                method="GET",
                status="503",
            )
            for app in apps
        ]
        assert counts == [1, 0]
    finally:
        first.dispose()
        second.dispose()


def test_a_download_in_progress_is_a_gauge(start_server: Callable[..., LiveServer]) -> None:
    server = start_server()
    pk = server.model()
    data = os.urandom(8 * 1024 * 1024)
    assert server.upload(pk, data).status_code == 200
    gauge = "modelhub_downloads_in_progress"
    url = server.api(f"/pretrained-models/{pk}/download")
    with server.session.get(url, stream=True, timeout=60) as response:
        assert len(response.raw.read(1024)) == 1024
        assert value(requests.get(f"{server.url}/metrics", timeout=30).text, gauge) == 1
    deadline = time.monotonic() + 30
    while value(requests.get(f"{server.url}/metrics", timeout=30).text, gauge) != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_upstream_transfers_are_counted(
    live: Callable[..., Live],  # noqa: F811 - the fixture
    upstream: UpstreamServer,  # noqa: F811 - the fixture
) -> None:
    server = live()
    data = os.urandom(100_000)
    upstream.add("ok.bin", data)
    pk = server.model(upstream.url("ok.bin"))
    assert server.session.post(server.api(f"/{pk}/fetch"), timeout=30).status_code == 202
    server.wait_until(pk, "local")
    broken = server.model(upstream.url("missing.bin"), name="broken")
    server.session.post(server.api(f"/{broken}/fetch"), timeout=30)
    deadline = time.monotonic() + 30
    while True:
        text = requests.get(f"{server.url}/metrics", timeout=30).text
        if value(text, "modelhub_upstream_transfers_total", event="failed") == 1:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert value(text, "modelhub_upstream_transfers_total", event="started") == 2
    assert value(text, "modelhub_upstream_transfers_total", event="stored") == 1
    assert value(text, "modelhub_upstream_bytes_fetched_total") == len(data)


def test_one_access_log_line_per_request(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    pk = api.model()["pk"]
    api.upload(pk, b"weights", status=200)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="modelhub.access"):
        api.app.get(
            f"{BASE}/{pk}/download?x=1",
            headers=api.user,
            extra_environ={"REMOTE_ADDR": "192.0.2.7"},
        )
        api.app.get("/nowhere", status=404)
    records = [r for r in caplog.records if r.name == "modelhub.access"]
    assert len(records) == 2
    first = records[0]
    assert first.getMessage().startswith(
        f'192.0.2.7 "GET {BASE}/{pk}/download?x=1" models.download 200 7 '
    )
    assert (first.client, first.route, first.status, first.bytes) == (
        "192.0.2.7",
        "models.download",
        200,
        7,
    )
    assert first.duration >= 0
    assert records[1].route == "unmatched" and records[1].status == 404

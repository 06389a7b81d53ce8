"""The pages in a real browser against the modelhub server: sign in, search,
open a model, upload its file through the page, delete and reinstate, and
no JavaScript error on any page visited."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from entrypoints.web import make_app
from entrypoints.web.routes import ROUTES
from tests.integration.web.browser import Console, chromium  # noqa: F401 (a fixture)
from tests.integration.web.conftest import PASSWORDS, Api, _build_api
from tests.integration.web.gated_server import GatedServer, start_gated

MIB = 1024 * 1024
POST_JSON = """url => fetch(url, {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({name: "x", version: "1"}),
}).then(response => response.status)"""


@dataclass
class Site:
    api: Api
    server: GatedServer
    framework: int | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def model(self, **fields: Any) -> dict[str, Any]:
        if self.framework is None:
            self.framework = self.api.framework()["pk"]
        return self.api.model(framework=self.framework, **fields)

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.url}/v1{path}", headers=self.api.admin, timeout=30)


@pytest.fixture(scope="module")
def site(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("browser")
    shutil.copy(sqlite_template, folder / "modelhub.sqlite")
    api = _build_api(
        f"sqlite:///{folder / 'modelhub.sqlite'}", folder / "blobs", max_file_size=256 * MIB
    )
    server = start_gated(make_app(api.registry), max_request_body_size=512 * MIB)
    yield Site(api, server)
    server.stop()
    api.registry.dispose()


@dataclass
class Browsing:
    page: Any
    console: Console
    base: str

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def sign_in(self, username: str, password: str | None = None) -> None:
        self.go("/sign-in")
        self.page.fill("#username", username)
        self.page.fill("#password", password or PASSWORDS[username])
        self.page.click("form.stacked button[type=submit]")


@pytest.fixture
def browsing(chromium: Any, site: Site) -> Iterator[Browsing]:  # noqa: F811
    """A fresh browser context (no cookies); no console error allowed in it."""
    context = chromium.new_context()
    page = context.new_page()
    console = Console()
    console.watch(page)
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmations
    yield Browsing(page, console, site.url)
    context.close()
    assert console.errors == [], console.errors


def test_sign_in_search_and_open_a_model(site: Site, browsing: Browsing) -> None:
    site.model(name="resnet-browser", description="ResNet trained on ImageNet")
    site.model(name="yolo-browser", description="An object detector")
    page = browsing.page
    browsing.go("/")
    assert "/sign-in?next=%2F" in page.url
    browsing.sign_in("alice")
    page.wait_for_url(site.url + "/")
    page.fill("#q", "imagenet resnet")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/?q=imagenet+resnet*")
    names = page.locator(".model-card h3 a").all_inner_texts()
    assert names == ["resnet-browser"]
    page.click("text=resnet-browser")
    assert page.locator("h1").inner_text().startswith("resnet-browser")
    assert "ResNet trained on ImageNet" in page.locator("#about-heading + p").inner_text()
    # Every page a user may reach renders without a script error.
    for path in ("/frameworks", "/licences", "/?sort=name&per_page=10"):
        assert browsing.go(path).status == 200


def test_a_wrong_password_is_shown_as_an_error(site: Site, browsing: Browsing) -> None:
    browsing.sign_in("alice", "not-her-password")
    alert = browsing.page.locator("[role=alert]")
    assert "Wrong username or password" in alert.inner_text()
    assert browsing.page.locator("#username").input_value() == "alice"


def test_the_skip_link_comes_first_with_the_keyboard(site: Site, browsing: Browsing) -> None:
    browsing.sign_in("alice")
    browsing.page.wait_for_url(site.url + "/")
    browsing.page.keyboard.press("Tab")
    focused = browsing.page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to main content"
    browsing.page.keyboard.press("Enter")
    assert browsing.page.evaluate("document.activeElement.id") == "main"


def test_soft_delete_and_reinstate_from_the_page(site: Site, browsing: Browsing) -> None:
    pk = site.model(name="to-delete")["pk"]
    page = browsing.page
    browsing.sign_in("admin")
    page.wait_for_url(site.url + "/")
    browsing.go(f"/models/{pk}")
    page.click("button:text-is('Delete')")
    page.wait_for_selector("text=Model deleted; an admin may reinstate it.")
    assert site.get(f"/pretrained-models/{pk}").json()["deletion_time"] is not None
    assert "deleted" in page.locator("h1").inner_text().lower()
    page.click("button:text-is('Reinstate')")
    page.wait_for_selector("text=Model reinstated.")
    assert site.get(f"/pretrained-models/{pk}").json()["deletion_time"] is None
    # The admin's other pages.
    for path in ("/models/new", f"/models/{pk}/edit", f"/models/{pk}/purge", "/users"):
        assert browsing.go(path).status == 200


def test_a_form_post_without_its_csrf_token_is_refused(site: Site, browsing: Browsing) -> None:
    pk = site.model(name="kept")["pk"]
    browsing.sign_in("admin")
    browsing.page.wait_for_url(site.url + "/")
    # The browser's own cookies, a form without the token.
    response = browsing.page.request.post(f"{site.url}/models/{pk}/delete", form={"x": "1"})
    assert response.status == 400
    assert site.get(f"/pretrained-models/{pk}").json()["deletion_time"] is None
    # A script of another page's making, with the cookie but without the header.
    browsing.console.expected.append("status of 400")
    status = browsing.page.evaluate(POST_JSON, f"{site.url}/v1/frameworks/create")
    assert status == 400


@pytest.mark.skipif("uploads" not in ROUTES, reason="no tus endpoint at /v1/uploads/ yet")
def test_upload_a_file_through_the_page(site: Site, browsing: Browsing, tmp_path: Path) -> None:
    pk = site.model(name="uploaded-in-browser")["pk"]
    data = os.urandom(20 * MIB + 12345)  # more than one 16 MiB chunk
    path = tmp_path / "weights.pth"
    path.write_bytes(data)
    page = browsing.page
    browsing.sign_in("admin")
    page.wait_for_url(site.url + "/")
    browsing.go(f"/models/{pk}")
    page.set_input_files("#upload-file", str(path))
    page.click("[data-upload-start]")
    page.wait_for_selector("text=Upload complete", timeout=60_000)
    assert page.locator("#upload-progress").get_attribute("aria-valuenow") == "100"
    page.wait_for_load_state("load")
    model = site.get(f"/pretrained-models/{pk}").json()
    assert model["data_sha256"] == hashlib.sha256(data).hexdigest()
    assert model["data_size"] == len(data)
    download = requests.get(
        f"{site.url}/v1/pretrained-models/{pk}/download", headers=site.api.user, timeout=60
    )
    assert hashlib.sha256(download.content).hexdigest() == model["data_sha256"]
    page.wait_for_selector(f"text={model['data_sha256']}")


def test_an_upload_resumes_after_a_dropped_connection_and_a_reload(
    site: Site, browsing: Browsing, tmp_path: Path
) -> None:
    pk = site.model(name="resumed-in-browser")["pk"]
    data = os.urandom(2 * 16 * MIB + 4321)  # three parts
    path = tmp_path / "weights.bin"
    path.write_bytes(data)
    page = browsing.page
    seen: list[str] = []
    cut = {"done": False}

    def network(route: Any) -> None:
        request = route.request
        seen.append(request.method)
        if request.method == "PATCH" and seen.count("PATCH") == 2 and not cut["done"]:
            cut["done"] = True
            route.abort("connectionreset")  # the second part's connection drops
        else:
            route.continue_()

    browsing.console.expected.append("ERR_CONNECTION_RESET")
    browsing.sign_in("admin")
    page.wait_for_url(site.url + "/")
    browsing.go(f"/models/{pk}")
    page.route("**/v1/uploads/**", network)
    page.set_input_files("#upload-file", str(path))
    page.click("[data-upload-start]")
    page.wait_for_selector("text=The connection dropped; trying again")
    # The person reloads the page meanwhile, and starts the same file again.
    page.reload()
    page.set_input_files("#upload-file", str(path))
    page.click("[data-upload-start]")
    page.wait_for_selector("text=Upload complete", timeout=60_000)
    model = site.get(f"/pretrained-models/{pk}").json()
    assert model["data_sha256"] == hashlib.sha256(data).hexdigest()
    # One upload was created; the reload asked the server where it stood.
    assert seen.count("POST") == 1 and "HEAD" in seen
    assert seen.count("PATCH") == 4  # part 1, part 2 cut, then parts 2 and 3

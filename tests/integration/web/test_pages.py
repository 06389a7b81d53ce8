"""The web pages through WebTest: who sees what, forms and their errors,
the session cookie, CSRF, and the catalogue's search."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
import webtest

from tests.integration.web.conftest import PASSWORDS, Api
from tests.integration.web.pages_helpers import (
    browser,
    csrf_token,
    field_error,
    form_to,
    form_with,
    signed_in,
)


@pytest.fixture
def admin(api: Api) -> webtest.TestApp:
    return signed_in(api, "admin")


@pytest.fixture
def alice(api: Api) -> webtest.TestApp:
    return signed_in(api, "alice")


def session_cookie(response: webtest.TestResponse) -> str:
    (cookie,) = [c for c in response.headers.getall("Set-Cookie") if "modelhub_session=" in c]
    return cookie


# -- signing in and out ------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/models/1", "/frameworks", "/users?x=1"])
def test_a_visitor_is_sent_to_sign_in_and_back(api: Api, path: str) -> None:
    client = browser(api)
    response = client.get(path, status=303)
    assert response.location.startswith("http://localhost/sign-in?next=")
    form = response.follow().forms[0]
    assert form["next"].value == path
    form["username"], form["password"] = "alice", PASSWORDS["alice"]
    assert form.submit(status=303).location == f"http://localhost{path}"


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x", ""]
)
def test_after_sign_in_only_paths_of_this_site_are_followed(api: Api, target: str) -> None:
    client = browser(api)
    form = client.get("/sign-in", params={"next": target}).forms[0]
    form["username"], form["password"] = "alice", PASSWORDS["alice"]
    form["next"] = target  # as a forged form would send it
    assert form.submit(status=303).location == "http://localhost/"


def test_the_session_cookie_is_http_only_same_site_and_secure_over_https(api: Api) -> None:
    client = browser(api)
    form = client.get("/sign-in").forms[0]
    form["username"], form["password"] = "alice", PASSWORDS["alice"]
    cookie = session_cookie(form.submit(status=303))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "secure" not in cookie.lower()

    https = webtest.TestApp(api.app.app, extra_environ={"wsgi.url_scheme": "https"})
    page = https.get("/sign-in")
    form = page.forms[0]
    form["username"], form["password"] = "alice", PASSWORDS["alice"]
    origin = {"Origin": "https://localhost"}
    cookie = session_cookie(form.submit(headers=origin, status=303))
    assert "; secure" in cookie.lower() and "HttpOnly" in cookie


def test_a_wrong_password_is_shown_on_the_form(api: Api) -> None:
    client = browser(api)
    form = client.get("/sign-in").forms[0]
    form["username"], form["password"] = "alice", "not-her-password"
    page = form.submit(status=400)
    assert "Wrong username or password" in page.html.find(role="alert").get_text()
    assert page.forms[0]["username"].value == "alice"
    client.get("/", status=303)  # still signed out


def test_sign_in_shares_the_login_throttle_with_the_api(make_api: Callable[..., Api]) -> None:
    api = make_api(login_failures_per_username=3)
    wrong = {"username": "alice", "password": "wrong"}
    for _ in range(2):
        api.app.post_json("/v1/auth/obtain", wrong, status=401)
    client = browser(api)
    form = client.get("/sign-in").forms[0]
    form["username"], form["password"] = "alice", "wrong"
    form.submit(status=400)
    form = client.get("/sign-in").forms[0]
    form["username"], form["password"] = "alice", PASSWORDS["alice"]
    refused = form.submit(status=429)
    assert "Too many failed logins" in refused.text and int(refused.headers["Retry-After"]) > 0
    right = {"username": "alice", "password": PASSWORDS["alice"]}
    api.app.post_json("/v1/auth/obtain", right, status=429)


def test_sign_out_clears_the_session(api: Api, alice: webtest.TestApp) -> None:
    alice.get("/", status=200)
    form = alice.get("/").forms[0]  # the header's sign-out button
    assert form.action == "/sign-out"
    page = form.submit(status=303).follow()
    assert "You have signed out." in page.text
    alice.get("/", status=303)


def test_a_password_change_a_new_role_or_deactivation_ends_the_session(
    api: Api, alice: webtest.TestApp
) -> None:
    pk = api.app.get("/v1/users/alice", headers=api.admin).json["pk"]
    password = "n3w-secret-x"
    for change in ({"password": password}, {"is_staff": True}, {"is_active": False}):
        client = signed_in(api, "alice", password if "password" not in change else None)
        client.get("/", status=200)
        api.app.patch_json(f"/v1/users/{pk}", change, headers=api.admin)
        client.get("/", status=303)
    alice.get("/", status=303)


def test_a_session_ends_after_its_lifetime_without_a_request(
    make_api: Callable[..., Api],
) -> None:
    api = make_api(session_lifetime=timedelta(seconds=1))
    client = signed_in(api, "alice")
    client.get("/", status=200)
    time.sleep(2.1)
    client.get("/", status=303)


# -- CSRF ---------------------------------------------------------------------


def test_a_form_post_without_its_token_is_refused(api: Api, admin: webtest.TestApp) -> None:
    pk = api.model()["pk"]
    refused = admin.post(f"/models/{pk}/delete", {}, status=400)
    assert "text/html" in refused.content_type and "Traceback" not in refused.text
    admin.post(f"/models/{pk}/delete", {"csrf_token": "0" * 40}, status=400)
    assert (
        api.app.get(f"/v1/pretrained-models/{pk}", headers=api.admin).json["deletion_time"] is None
    )
    admin.post(f"/models/{pk}/delete", {"csrf_token": csrf_token(admin)}, status=303)
    assert api.app.get(f"/v1/pretrained-models/{pk}", headers=api.admin).json["deletion_time"]


def test_the_sign_in_form_needs_its_token_too(api: Api) -> None:
    client = browser(api)
    client.post("/sign-in", {"username": "alice", "password": PASSWORDS["alice"]}, status=400)
    client.get("/", status=303)


def test_api_writes_the_session_authenticates_need_the_csrf_header(
    api: Api, admin: webtest.TestApp
) -> None:
    body = {"name": "keras", "version": "3"}
    refused = admin.post_json("/v1/frameworks/create", body, status=400)
    assert "X-CSRF-Token" in refused.json["detail"]
    admin.post_json("/v1/frameworks/create", body, headers={"X-CSRF-Token": "0" * 40}, status=400)
    made = admin.post_json(
        "/v1/frameworks/create", body, headers={"X-CSRF-Token": csrf_token(admin)}, status=201
    )
    assert made.json["name"] == "keras"
    # Reads need no token; API clients with a Bearer token never do.
    admin.get(f"/v1/frameworks/{made.json['pk']}", status=200)
    other = {"name": "jax", "version": "0.4"}
    api.app.post_json("/v1/frameworks/create", other, headers=api.admin, status=201)
    # Without a session, the API answers as it always did.
    browser(api).post_json("/v1/frameworks/create", other, status=401)


# -- the catalogue ------------------------------------------------------------


@pytest.fixture
def catalogue(api: Api) -> dict[str, int]:
    torch = api.framework("pytorch", "2.4")["pk"]
    keras = api.framework("keras", "3.0")["pk"]
    made = {}
    for name, description, framework, domain, licence, extra in (
        ("resnet50", "ResNet-50 trained on ImageNet", torch, "ic", "MIT", {}),
        ("yolov8", "Real-time object detection", torch, "od", "Apache 2.0", {}),
        ("bert", "Language model", keras, "ic", "MIT", {"source": "https://example.org/b.bin"}),
        ("deeplab", "Segmentation, imagenet backbone", keras, "is", "MIT", {}),
    ):
        made[name] = api.model(
            name=name,
            description=description,
            framework=framework,
            domain=domain,
            licence=licence,
            **extra,
        )["pk"]
    api.upload(made["resnet50"], b"weights")
    api.app.delete(f"/v1/pretrained-models/{made['deeplab']}", headers=api.admin)
    return made


def shown(page: webtest.TestResponse) -> list[str]:
    return [a.get_text(strip=True) for a in page.html.select(".model-card h3 a")]


@pytest.mark.usefixtures("catalogue")
def test_the_catalogue_searches_filters_and_sorts_by_its_query_string(
    alice: webtest.TestApp,
) -> None:
    assert shown(alice.get("/")) == ["bert", "yolov8", "resnet50"]
    assert shown(alice.get("/?q=IMAGENET")) == ["resnet50"]
    assert shown(alice.get("/?q=object+yolo")) == ["yolov8"]
    assert shown(alice.get("/?domain=ic&sort=name")) == ["bert", "resnet50"]
    assert shown(alice.get("/?licence=Apache+2.0")) == ["yolov8"]
    assert shown(alice.get("/?file=yes&sort=name")) == ["bert", "resnet50"]
    assert shown(alice.get("/?file=no")) == ["yolov8"]
    assert shown(alice.get("/?origin=upstream")) == ["bert"]
    assert shown(alice.get("/?origin=local&sort=-name")) == ["yolov8", "resnet50"]
    page = alice.get("/?q=nothing-like-this")
    assert shown(page) == [] and "No model matches" in page.text
    # What was asked stays in the form, for the next search.
    page = alice.get("/?q=resnet&domain=ic&sort=oldest")
    form = form_with(page, "q")
    assert (form["q"].value, form["domain"].value, form["sort"].value) == ("resnet", "ic", "oldest")


def test_the_catalogue_pages_through_its_results(
    catalogue: dict[str, int], alice: webtest.TestApp
) -> None:
    first = alice.get("/?per_page=10&sort=name&page=1")
    assert "Showing 1\u20133 of 3 models" in first.text and first.html.select(".pagination") == []
    page = alice.get("/?sort=name&per_page=10&page=2")
    assert shown(page) == [] and "The results end on page 1" in page.text


def test_pagination_links_keep_the_search(api: Api, alice: webtest.TestApp) -> None:
    framework = api.framework()["pk"]
    for n in range(12):
        api.model(name=f"m{n:02d}", framework=framework)
    page = alice.get("/?q=m&sort=name&per_page=10")
    assert shown(page)[:2] == ["m00", "m01"] and len(shown(page)) == 10
    link = page.html.select_one('.pagination a[rel="next"]')["href"]
    assert "q=m" in link and "sort=name" in link and "page=2" in link
    assert shown(alice.get(link)) == ["m10", "m11"]
    current = alice.get(link).html.select_one('.pagination [aria-current="page"]')
    assert current.get_text() == "2"


def test_a_query_that_cannot_be_read_is_explained(alice: webtest.TestApp) -> None:
    page = alice.get("/?page=abc", status=400)
    assert "Please correct" in page.text or "whole number" in page.text
    assert "Traceback" not in page.text


def test_deleted_models_are_offered_to_admins_only(
    catalogue: dict[str, int], admin: webtest.TestApp, alice: webtest.TestApp
) -> None:
    assert shown(admin.get("/?deleted=only")) == ["deeplab"]
    assert admin.get("/").html.find(id="deleted") is not None
    assert alice.get("/").html.find(id="deleted") is None
    assert "deeplab" not in shown(alice.get("/?deleted=only"))


# -- a model's page -----------------------------------------------------------


def test_a_models_page_shows_its_fields_file_snippets_and_downloads(
    api: Api, alice: webtest.TestApp
) -> None:
    data = b"x" * (512 * 1024 + 256 * 1024)
    model = api.model(metadata="top1=76.1")
    api.upload(model["pk"], data)
    alice.get(f"/v1/pretrained-models/{model['pk']}/download", status=200)  # the page's button
    page = alice.get(f"/models/{model['pk']}")
    text = page.html.get_text(" ", strip=True)
    for expected in (
        "resnet50",
        "ResNet-50 trained on ImageNet",
        "https://example.org/resnet50",
        "pytorch 2.4",
        "Image Classification",
        "MIT",
        "top1=76.1",
        "768.0 KiB",
        "786,432 bytes",
        hashlib.sha256(data).hexdigest(),
        "Stored here",
    ):
        assert expected in text, expected
    assert page.html.find(attrs={"data-testid": "downloads"}).get_text() == "1"
    assert page.html.find(attrs={"data-copy": "#sha256"}) is not None
    download = page.html.find("a", string=lambda s: s and s.startswith("Download"))
    assert download["href"] == f"/v1/pretrained-models/{model['pk']}/download"
    snippets = {code["id"]: code.get_text() for code in page.html.select("pre code")}
    url = f"http://localhost/v1/pretrained-models/{model['pk']}/download"
    assert url in snippets["code-curl"] and url in snippets["code-wget"]
    assert '"username": "alice"' in snippets["code-curl"]
    assert f"pretrained_model.download(context, {model['pk']})" in snippets["code-ufdl"]
    assert 'UFDLServerContext("http://localhost", "alice", "...")' in snippets["code-ufdl"]
    # Not an admin: no admin actions, and no upload.
    assert page.html.select("[data-upload]") == [] and "Delete for good" not in page.text


def test_the_snippets_use_the_address_the_request_came_to(api: Api) -> None:
    pk = api.model()["pk"]
    https = webtest.TestApp(
        api.app.app, extra_environ={"wsgi.url_scheme": "https", "HTTP_HOST": "models.lab.example"}
    )
    form = https.get("/sign-in").forms[0]
    form["username"], form["password"] = "alice", PASSWORDS["alice"]
    form.submit(headers={"Origin": "https://models.lab.example"}, status=303)
    page = https.get(f"/models/{pk}")
    assert f"https://models.lab.example/v1/pretrained-models/{pk}/download" in page.text


def test_error_pages_are_pages(api: Api, admin: webtest.TestApp, alice: webtest.TestApp) -> None:
    missing = alice.get("/models/999", status=404)
    assert "text/html" in missing.content_type and "Nothing here" in missing.text
    alice.get("/models/new", status=403)
    assert "You may not do this" in alice.get("/users", status=403).text
    pk = api.model()["pk"]
    alice.post(f"/models/{pk}/delete", {"csrf_token": csrf_token(alice)}, status=403)
    admin.post(f"/models/{pk}/delete", {"csrf_token": csrf_token(admin)}, status=303)
    conflict = admin.get(f"/models/{pk}/edit", status=409)
    assert "reinstate it first" in conflict.text
    unknown = browser(api).get("/no/such/page", headers={"Accept": "text/html"}, status=404)
    assert "text/html" in unknown.content_type
    # The API's errors stay JSON.
    assert api.app.get("/v1/pretrained-models/999", headers=api.user, status=404).json
    wrong_method = admin.put("/sign-in", status=405)
    assert wrong_method.headers["Allow"] == "GET, HEAD, POST"


# -- the admins' forms ----------------------------------------------------------


def test_an_admin_creates_edits_deletes_reinstates_and_hard_deletes_a_model(
    api: Api, admin: webtest.TestApp
) -> None:
    framework = api.framework()["pk"]
    form = form_with(admin.get("/models/new"), "name")
    form["framework"] = str(framework)
    form["domain"], form["licence"] = "od", "MIT"
    form["name"], form["url"] = "yolo-lab", "https://example.org/yolo"
    form["description"] = "Our detector"
    created = form.submit(status=303)
    page = created.follow()
    assert "Model yolo-lab created." in page.text
    pk = int(created.location.rstrip("/").rsplit("/", 1)[1])
    model = api.app.get(f"/v1/pretrained-models/{pk}", headers=api.admin).json
    assert (
        model["metadata"] == ""
        and model["source"] is None
        and model["domain"] == "Object Detection"
    )

    form = form_with(admin.get(f"/models/{pk}/edit"), "name")
    assert form["name"].value == "yolo-lab" and form["framework"].value == str(framework)
    form["description"] = "Our better detector"
    form["source"] = "https://example.org/yolo.pt"
    form.submit(status=303)
    model = api.app.get(f"/v1/pretrained-models/{pk}", headers=api.admin).json
    assert model["description"] == "Our better detector"
    assert model["source"] == "https://example.org/yolo.pt" and model["data_state"] == "remote"

    page = admin.get(f"/models/{pk}")
    form_to(page, "/delete").submit(status=303)
    page = admin.get(f"/models/{pk}")
    assert "deleted" in page.html.find("h1").get_text()
    form_to(page, "/reinstate").submit(status=303)
    assert (
        api.app.get(f"/v1/pretrained-models/{pk}", headers=api.admin).json["deletion_time"] is None
    )

    confirm = admin.get(f"/models/{pk}/purge")
    assert "Delete yolo-lab for good?" in confirm.text
    gone = form_to(confirm, "/purge").submit(status=303).follow()
    assert "Model yolo-lab deleted for good." in gone.text
    api.app.get(f"/v1/pretrained-models/{pk}", headers=api.admin, status=404)


def test_a_model_form_shows_each_problem_beside_its_field(api: Api, admin: webtest.TestApp) -> None:
    api.framework()
    form = form_with(admin.get("/models/new"), "name")
    form["name"] = "   "
    form["url"] = "not a url"
    form["source_sha256"] = "ABC"
    page = form.submit(status=400)
    assert field_error(page, "name") == "This field may not be blank."
    assert field_error(page, "url") == "Enter a valid URL."
    assert field_error(page, "framework") == "This field is required."
    assert field_error(page, "source_sha256") == "Enter a SHA-256: 64 lowercase hexadecimal digits."
    assert field_error(page, "description") == ""
    name = page.html.find(id="field-name")
    assert name["aria-invalid"] == "true" and "name-error" in name["aria-describedby"]
    assert page.html.find("label", attrs={"for": "field-name"}) is not None
    # What was typed is kept.
    assert form_with(page, "url")["url"].value == "not a url"
    assert api.app.post_json("/v1/pretrained-models/list", headers=api.admin).json == []


def test_an_admin_deletes_a_models_file(api: Api, admin: webtest.TestApp) -> None:
    pk = api.model()["pk"]
    api.upload(pk, b"abc")
    page = admin.get(f"/models/{pk}")
    form_to(page, "/file/delete").submit(status=303)
    assert api.app.get(f"/v1/pretrained-models/{pk}", headers=api.admin).json["data"] is False


def test_frameworks_licences_and_users_are_managed_on_their_pages(
    api: Api, admin: webtest.TestApp, alice: webtest.TestApp
) -> None:
    form = form_with(admin.get("/frameworks"), "version")
    form["name"], form["version"] = "onnx", "1.16"
    assert "Framework onnx 1.16 added." in form.submit(status=303).follow().text
    again = form_with(admin.get("/frameworks"), "version")
    again["name"], again["version"] = "onnx", "1.16"
    refused = again.submit(status=400)
    assert "must make a unique set" in refused.html.find(role="alert").get_text()
    (onnx,) = [f for f in api.app.post("/v1/frameworks/list", headers=api.admin).json]
    form = form_with(admin.get(f"/frameworks/{onnx['pk']}/edit"), "version")
    form["version"] = "1.17"
    form.submit(status=303)
    assert api.app.get(f"/v1/frameworks/{onnx['pk']}", headers=api.admin).json["version"] == "1.17"
    api.model(framework=onnx["pk"])
    in_use = admin.post(
        f"/frameworks/{onnx['pk']}/delete", {"csrf_token": csrf_token(admin)}, status=409
    )
    assert "used by pretrained models" in in_use.text
    # Everyone signed in may read the list; only admins see the forms.
    assert alice.get("/frameworks").html.find(id="add-heading") is None

    form = form_with(admin.get("/licences"), "url")
    form["name"], form["url"] = "Lab licence 1.0", "https://lab.example/licence"
    form.submit(status=303)
    licences = api.app.post("/v1/licences/list", headers=api.admin).json
    assert "Lab licence 1.0" in [x["name"] for x in licences]

    form = form_with(admin.get("/users"), "username")
    assert form["is_active"].checked
    form["username"], form["password"] = "bob", "bob-secret-123"
    form["email"] = "bob@lab.example"
    form.submit(status=303)
    signed_in_bob = browser(api)
    login = signed_in_bob.get("/sign-in").forms[0]
    login["username"], login["password"] = "bob", "bob-secret-123"
    login.submit(status=303)
    bob = api.app.get("/v1/users/bob", headers=api.admin).json
    form = form_with(admin.get(f"/users/{bob['pk']}/edit"), "username")
    assert form["password"].value == "" and form["email"].value == "bob@lab.example"
    form["first_name"] = "Bob"
    form.submit(status=303)  # the password, left empty, is kept
    signed_in_bob.get("/", status=200)
    admin.post(f"/users/{bob['pk']}/deactivate", {"csrf_token": csrf_token(admin)}, status=303)
    signed_in_bob.get("/", status=303)
    assert api.app.get("/v1/users/bob", headers=api.admin).json["is_active"] is False


def test_an_admin_cannot_demote_themself_on_the_form(api: Api, admin: webtest.TestApp) -> None:
    me = api.app.get("/v1/users/admin", headers=api.admin).json
    form = form_with(admin.get(f"/users/{me['pk']}/edit"), "username")
    form["is_staff"] = False
    page = form.submit(status=409)
    assert "cannot deactivate or demote your own account" in page.text


# -- static files ---------------------------------------------------------------


def test_static_files_are_ours_and_cached(admin: webtest.TestApp) -> None:
    page = admin.get("/")
    css = page.html.find("link", rel="stylesheet")["href"]
    script = page.html.find("script")["src"]
    assert css.startswith("/static/modelhub.css?x=") and script.startswith("/static/modelhub.js?")
    assert "http" not in css + script
    response = admin.get(css)
    assert response.content_type == "text/css"
    assert "max-age=31536000" in response.headers["Cache-Control"]

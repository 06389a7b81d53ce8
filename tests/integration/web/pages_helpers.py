"""Browsing the pages in-process: a WebTest client per person, signed in
through the sign-in form as a browser would."""

from __future__ import annotations

import re

import webtest

from tests.integration.web.conftest import PASSWORDS, Api


def browser(api: Api) -> webtest.TestApp:
    """A client of its own (its own cookies) on the app."""
    return webtest.TestApp(api.app.app)


def signed_in(api: Api, username: str, password: str | None = None) -> webtest.TestApp:
    """A client signed in as ``username`` through the form."""
    client = browser(api)
    form = client.get("/sign-in").forms[0]
    form["username"] = username
    form["password"] = password or PASSWORDS[username]
    response = form.submit(status=303)
    assert response.location.endswith("/")
    return client


def csrf_token(client: webtest.TestApp) -> str:
    """The token the pages put in their forms for this client's session."""
    page = client.get("/sign-in").text
    found = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page)
    assert found is not None
    return found.group(1)


def field_error(page: webtest.TestResponse, name: str) -> str:
    """The message shown beside a form's field (empty when none)."""
    node = page.html.find(id=f"{name}-error")
    return node.get_text(" ", strip=True) if node is not None else ""


def form_with(page: webtest.TestResponse, field: str) -> webtest.Form:
    """The one form of ``page`` that has ``field``."""
    (form,) = [f for f in page.forms.values() if field in f.fields]
    return form


def form_to(page: webtest.TestResponse, action_end: str) -> webtest.Form:
    """The one form of ``page`` whose action ends with ``action_end``."""
    (form,) = [f for f in page.forms.values() if f.action.endswith(action_end)]
    return form

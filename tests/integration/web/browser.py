"""A real browser for the page tests: Debian's Chromium driven by Playwright.

Outside CI the browser tests skip, with the reason, when Chromium or
Playwright is missing; under ``CI=true`` they must run (``.ci/run``
installs Chromium). Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found or next((p for p in CHROMIUM_PATHS if os.path.exists(p)), None)


def unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:  # pragma: no cover - a test extra
        return f"Playwright is not installed: {exc}"
    if chromium_path() is None:
        return "no Chromium found (apt-get install chromium)"
    return None


def require_browser() -> str:
    """Chromium's path; skips the test (fails it under CI=true) without one."""
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    path = chromium_path()
    assert path is not None
    return path


@dataclass
class Console:
    """Errors the pages logged in the browser's console or raised.

    The browser also logs an error when a page itself answers 4xx (a form
    refused, a 404 page): the tests assert those statuses, so that one
    message about the document is not counted; a subresource that fails to
    load (a script, a style sheet) is.
    """

    errors: list[str] = field(default_factory=list)
    # Messages a test causes on purpose (a request it expects refused).
    expected: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        def logged(message: Any) -> None:
            if message.type != "error":
                return
            about_the_document = message.location.get("url") == page.url
            if about_the_document and message.text.startswith(DOCUMENT_STATUS):
                return
            if any(text in message.text for text in self.expected):
                return
            self.errors.append(f"{page.url}: {message.text}")

        page.on("console", logged)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))


DOCUMENT_STATUS = "Failed to load resource: the server responded with a status of 4"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium for a module's tests."""
    path = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield browser
        browser.close()

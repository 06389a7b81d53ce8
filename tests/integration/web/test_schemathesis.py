"""Schemathesis against a live server: every documented operation, fuzzed as
an admin, never answers 5xx nor anything the document does not describe.

The examples are derandomised, so every run sends the same requests. Each
operation gets the coverage cases schemathesis derives from its schemas
(boundary and invalid values of every field, header and path parameter) and
``EXAMPLES`` random ones, in valid and invalid forms; now and then a random
one carries a value from ``HOSTILE`` instead of a generated one.
"""

from __future__ import annotations

import io
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import schemathesis
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup, ServerError
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from domain.filters import FilterSpec
from domain.model import PretrainedModel, Upload
from domain.permissions import SYSTEM
from entrypoints.bootstrap import Registry, Services
from entrypoints.web import make_app
from entrypoints.web.openapi import build_document
from tests.integration.web.conftest import make_registry
from tests.integration.web.gated_server import start_gated

EXAMPLES = 20
# The lists of frameworks, domains, licences and users run the filter parser
# and SQL translation whose coverage cases the pretrained models' list gets;
# they get more random examples instead.
LISTS = "^/v1/(frameworks|domains|licences|licenses|users)/list$"
LIST_EXAMPLES = 30
DOWNLOAD_EXAMPLES = 60
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
PASSWORD = "fuzz-admin-secret"
# Values that broke, or could break, a server like this one: for the
# download's conditional and Range headers, and for any integer or string of a
# path or body (NUL, LIKE wildcards, over a filter's text cap, non-ASCII).
HOSTILE = {
    "ranges": [
        "bytes=-0",
        "bytes=0-0",
        "bytes=5-2",
        "bytes=0-1,3-4",
        "bytes=0-1, -2",
        "bytes=-",
        "bytes=18446744073709551616-",
        "bytes=" + "9" * 5000 + "-",
        "bytes=0-" + "9" * 5000,
        "bytes=-" + "9" * 5000,
        "items=0-1",
    ],
    "validators": [
        "*",
        '"x", *',
        'W/"x"',
        '"' + "0" * 64 + '"',
        ",",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "yesterday",
    ],
    "large": [2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, 10**30],
    "texts": ["\x00", "a\x00b", "%_\\'\"", "x" * 1001, "\u0661", "\U0001f642"],
}
# The seeded models by pk: their name, bytes (None: no file), and whether
# they are soft-deleted.
SEEDED = {
    1: ("with-file", b"model bytes", False),
    2: ("no-file", None, False),
    3: ("deleted", b"old bytes", True),
}
# A resumable upload of the admin's for model 2, expecting 100 bytes.
SEEDED_UPLOAD = "5eed" * 8
# A tus part is raw bytes, as schemathesis sends application/octet-stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")


@dataclass
class Fuzzed:
    """The server under test, an admin's token, and the seeded models, put
    back as they were after any example that may have changed them."""

    url: str
    registry: Registry
    admin_pk: int
    token: str = ""
    token_generation: int = -1
    dirty: bool = True
    # (operation, status) of every response, and the responses that failed.
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    nonconforming: list[str] = field(default_factory=list)

    def prepare(self) -> None:
        if not self.dirty:
            return
        with self.registry.transaction() as services:
            admin = services.uow.users.get(self.admin_pk)
            if admin.token_generation != self.token_generation:
                # A password change revoked the token: a new password, a new token.
                services.users.update(SYSTEM, self.admin_pk, {"password": PASSWORD}, True)
                self.token = services.auth.obtain(admin.username, PASSWORD)["access"]
                self.token_generation = admin.token_generation
            for pk, (name, data, deleted) in SEEDED.items():
                self._restore(services, pk, name, data, deleted)
            self._restore_upload(services)
        self.dirty = False

    def _restore_upload(self, services: Services) -> None:
        """The seeded upload, made again with nothing received."""
        uploads, store = services.uow.uploads, self.registry.store
        upload = uploads.get(SEEDED_UPLOAD)
        if upload is not None:
            uploads.delete(upload)
        store.remove_staging(SEEDED_UPLOAD)
        store.begin_staging(SEEDED_UPLOAD)
        now = self.registry.clock.now()
        uploads.add(Upload(SEEDED_UPLOAD, self.admin_pk, 2, 100, now, now + timedelta(days=1)))

    def _restore(
        self, services: Services, pk: int, name: str, data: bytes | None, deleted: bool
    ) -> None:
        uow, models = services.uow, services.models
        model = uow.models.get(pk)
        if model is None:
            # Hard-deleted: made again under its pk.
            model = PretrainedModel(
                name=name,
                framework=services.frameworks.get_or_create(SYSTEM, "seeded", "1"),
                domain=uow.domains.list(FilterSpec())[0],
                licence=uow.licences.list(FilterSpec())[0],
                url="https://example.org/seeded",
                description="",
                creation_time=self.registry.clock.now(),
                pk=pk,
            )
            uow.models.add(model)
            uow.session.flush()
        models.reinstate(SYSTEM, model.pk)
        if data is None:
            models.delete_file(SYSTEM, model.pk)
        elif model.blob is None:
            models.set_file(SYSTEM, model.pk, io.BytesIO(data))
        if deleted:
            models.soft_delete(SYSTEM, model.pk)

    def record(self, case: Case, response: requests.Response) -> None:
        self.statuses[(case.operation.label, response.status_code)] += 1
        reads = case.method == "GET" or case.path.endswith(("/list", "/download"))
        if not reads and response.status_code < 300:
            self.dirty = True

    def record_failure(self, case: Case, group: FailureGroup) -> None:
        found = f"{case.operation.label}: {', '.join(f.title for f in group.exceptions)}"
        if any(isinstance(failure, ServerError) for failure in group.exceptions):
            self.server_errors.append(found)
        else:
            self.nonconforming.append(found)


@pytest.fixture(scope="module")
def fuzzed(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    """The modelhub server (waitress with the body gate) in a thread on a
    SQLite copy, with an admin and the seeded models."""
    folder = tmp_path_factory.mktemp("fuzzed")
    shutil.copy(sqlite_template, folder / "modelhub.sqlite")
    registry = make_registry(
        f"sqlite:///{folder / 'modelhub.sqlite'}",
        folder / "blobs",
        max_file_size=64 * 1024,
        access_lifetime=timedelta(hours=1),
    )
    with registry.transaction() as services:
        admin = services.users.create(
            SYSTEM, {"username": "admin", "password": PASSWORD, "is_staff": True}
        )
        framework = services.frameworks.create(SYSTEM, {"name": "seeded", "version": "1"})
        services.uow.session.flush()
        admin_pk = admin.pk
        for pk, (name, _data, _deleted) in SEEDED.items():
            body = {"framework": framework.pk, "domain": "ic", "licence": "MIT", "name": name}
            model = services.models.create(
                SYSTEM, {**body, "url": "https://example.org/seeded", "description": ""}
            )
            services.uow.session.flush()
            assert model.pk == pk
    server = start_gated(make_app(registry))
    try:
        yield Fuzzed(server.url, registry, admin_pk)
    finally:
        server.stop()
        registry.dispose()


schema = schemathesis.openapi.from_dict(
    build_document(),
    config=schemathesis.Config.from_dict(
        {
            "suppress-health-check": ["all"],
            "dictionaries": {
                "keys": {"values": [*SEEDED, *HOSTILE["large"]]},
                "with-file": {"values": [1]},
                "uploads": {"values": [SEEDED_UPLOAD]},
                **{name: {"values": values} for name, values in HOSTILE.items()},
            },
            "parameters": {
                "header.Range": {"dictionary": "ranges", "probability": 0.5},
                "header.If-Range": {"dictionary": "validators", "probability": 0.5},
                "header.If-None-Match": {"dictionary": "validators", "probability": 0.5},
                "header.If-Modified-Since": {"dictionary": "validators", "probability": 0.5},
                # Half the paths name a seeded record (or a number too large).
                "path.pk": {"dictionary": "keys", "probability": 0.5},
                "path.upload_id": {"dictionary": "uploads", "probability": 0.5},
            },
            "generation": {
                "max-examples": EXAMPLES,
                "database": "none",
                "deterministic": True,
                "dictionaries": {
                    "integer": {"dictionary": "large", "probability": 0.1},
                    "string": {"dictionary": "texts", "probability": 0.1},
                },
            },
            "phases": {
                # Undocumented methods answer 405: test_openapi checks the methods.
                "coverage": {"unexpected-methods": []},
                "stateful": {"enabled": False},
            },
            "operations": [
                {
                    # The file's headers matter only when there is a file.
                    "include-path-regex": "/download$",
                    "parameters": {"path.pk": {"dictionary": "with-file", "probability": 0.8}},
                    "generation": {"max-examples": DOWNLOAD_EXAMPLES},
                },
                {
                    "include-path-regex": LISTS,
                    "phases": {"coverage": {"enabled": False}},
                    "generation": {"max-examples": LIST_EXAMPLES},
                },
            ],
        }
    ),
)


@schema.parametrize()
def test_operation_conforms(case: Case, fuzzed: Fuzzed) -> None:
    fuzzed.prepare()
    headers = {"Authorization": f"Bearer {fuzzed.token}"}
    response = case.call(base_url=fuzzed.url, headers=headers, timeout=30)
    fuzzed.record(case, response)
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except FailureGroup as group:
        fuzzed.record_failure(case, group)
        raise


def test_every_operation_was_fuzzed(fuzzed: Fuzzed) -> None:
    """After the operations' tests: each was reached past authentication,
    and the tally of failed responses (each also fails its operation's test)."""
    fuzzed_operations = {label for label, _status in fuzzed.statuses}
    if not fuzzed_operations:
        pytest.skip("runs after the operations' tests, which did not run")
    documented = {result.ok().label for result in schema.get_all_operations()}
    assert fuzzed_operations == documented
    answered = {label for (label, status) in fuzzed.statuses if status != 401}
    assert answered == documented
    summary = (
        f"schemathesis: {len(fuzzed.server_errors)} server errors, "
        f"{len(fuzzed.nonconforming)} non-conforming responses "
        f"({sum(fuzzed.statuses.values())} requests, {len(documented)} operations)"
    )
    print(summary)
    assert not fuzzed.server_errors and not fuzzed.nonconforming, summary

"""The API and ``modelhub import`` give the same answer to the same body.

Each body goes to ``POST /v1/pretrained-models/create`` (or
``/v1/frameworks/create``) and, as a manifest entry, to ``modelhub
import``; the field errors must be the same, message for message, and a
body one accepts the other accepts too.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.errors import Invalid
from entrypoints.cli.output import describe
from tests.integration.conftest import Batch
from tests.integration.web.conftest import Api

FRAMEWORK = {"name": "pytorch", "version": "2.4"}
VALID = {
    "name": "resnet50",
    "description": "ResNet-50",
    "url": "https://example.org/resnet50",
    "domain": "ic",
    "licence": "MIT",
    "metadata": "top-1 76%",
}
ALL_MISSING = {"metadata": "m"}

MODEL_BODIES = {
    "every required field missing": ALL_MISSING,
    "metadata null": {**VALID, "metadata": None},
    "name null": {**VALID, "name": None},
    "every field null": {name: None for name in VALID},
    "name missing": {k: v for k, v in VALID.items() if k != "name"},
    "blank texts": {**VALID, "name": " ", "url": "", "description": ""},
    "too long": {**VALID, "name": "n" * 201, "url": "https://example.org/" + "u" * 200},
    "wrong types": {**VALID, "name": 5, "description": [], "metadata": 12, "domain": 1},
    "not a url": {**VALID, "url": "ftp://example.org/resnet50"},
    "no such domain or licence": {**VALID, "domain": "xx", "licence": "WTFPL"},
    "null character": {**VALID, "name": "res\x00net"},
    "lone surrogate": {**VALID, "description": "\ud800"},
    "unknown and read-only fields": {**VALID, "colour": "red", "pk": 99, "data": True},
    "valid": VALID,
}

FRAMEWORK_BODIES = {
    "name missing": {"version": "1"},
    "name null": {"name": None, "version": "1"},
    "blank name, version not text": {"name": "", "version": 2},
    "too long": {"name": "f" * 201, "version": "v" * 101},
}


def cli_errors(batch: Batch, entries: list[dict[str, Any]]) -> list[str | None]:
    """Import ``entries`` one per run; each one's error text, None if accepted."""
    answers: list[str | None] = []
    for number, entry in enumerate(entries):
        manifest = batch.root / f"manifest-{number}.json"
        manifest.write_text(json.dumps([entry]), encoding="utf-8")
        outcome = batch.run("import", str(manifest))
        if outcome.code == 0:
            answers.append(None)
            continue
        (line,) = [x for x in outcome.err.splitlines() if ": error: " in x]
        answers.append(line.split(": error: ", 1)[1])
    return answers


def api_errors(api: Api, path: str, body: dict[str, Any], prefix: str = "") -> str | None:
    """The API's field errors for ``body`` as the CLI words them (each field
    name after ``prefix``); None if accepted."""
    response = api.app.post(
        path,
        json.dumps(body),  # lone surrogates included, as a client could send them
        headers={**api.admin, "Content-Type": "application/json"},
        expect_errors=True,
    )
    if response.status_int == 201:
        return None
    assert response.status_int == 400, response.text
    return describe(Invalid(fields={prefix + k: v for k, v in response.json.items()}))


def test_model_bodies_get_the_same_answers(api: Api, batch: Batch) -> None:
    framework_pk = api.framework(**FRAMEWORK)["pk"]
    names = list(MODEL_BODIES)
    create = "/v1/pretrained-models/create"
    through_api = [
        api_errors(api, create, {**MODEL_BODIES[n], "framework": framework_pk}) for n in names
    ]
    batch.run("initdb")
    through_cli = cli_errors(batch, [{**MODEL_BODIES[n], "framework": FRAMEWORK} for n in names])
    assert dict(zip(names, through_cli, strict=True)) == dict(zip(names, through_api, strict=True))
    accepted = {n for n, answer in zip(names, through_api, strict=True) if answer is None}
    assert accepted == {"valid", "unknown and read-only fields"}


@pytest.mark.parametrize("name", FRAMEWORK_BODIES)
def test_framework_bodies_get_the_same_answers(api: Api, batch: Batch, name: str) -> None:
    body = FRAMEWORK_BODIES[name]
    # The manifest nests the framework, and names its fields so.
    expected = api_errors(api, "/v1/frameworks/create", body, prefix="framework.")
    assert expected is not None
    batch.run("initdb")
    assert cli_errors(batch, [{**VALID, "framework": body}]) == [expected]

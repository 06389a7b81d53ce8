"""Ready-to-paste commands that download a model, for the model's page."""

from __future__ import annotations

from dataclasses import dataclass

TOKEN = (
    "TOKEN=$(curl -s {base}/v1/auth/obtain \\\n"
    "    -H 'Content-Type: application/json' \\\n"
    '    -d \'{{"username": "{username}", "password": "..."}}\' \\\n'
    "    | python3 -c 'import json, sys; print(json.load(sys.stdin)[\"access\"])')\n"
)


@dataclass(frozen=True)
class Snippet:
    key: str
    title: str
    text: str


def download_snippets(base: str, pk: int, username: str) -> list[Snippet]:
    """curl, wget and the UFDL Python client, against the server at ``base``."""
    url = f"{base}/v1/pretrained-models/{pk}/download"
    token = TOKEN.format(base=base, username=username)
    return [
        Snippet(
            "curl",
            "curl",
            f'{token}curl -fL -C - -H "Authorization: Bearer $TOKEN" -o model.data \\\n    {url}',
        ),
        Snippet(
            "wget",
            "wget",
            f'{token}wget -c --header "Authorization: Bearer $TOKEN" -O model.data \\\n    {url}',
        ),
        Snippet(
            "ufdl",
            "UFDL Python client",
            "from ufdl.pythonclient import UFDLServerContext\n"
            "from ufdl.pythonclient.functional.core.models import pretrained_model\n"
            "\n"
            f'context = UFDLServerContext("{base}", "{username}", "...")\n'
            'with open("model.data", "wb") as file:\n'
            f"    for chunk in pretrained_model.download(context, {pk}):\n"
            "        file.write(chunk)",
        ),
    ]

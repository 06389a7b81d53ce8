"""Views that only read (``view_config(..., read_only=True)``).

Their services (``request.services``, made on first use) work on a unit of
work outside any transaction, which saves a request its ``BEGIN`` and
``COMMIT`` round trips and refuses any write: listing and retrieving are
most of a registry's requests.
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.interfaces import IViewDeriverInfo
from pyramid.request import Request

READ_ONLY = "modelhub.read_only"


def read_only_view(view: Any, info: IViewDeriverInfo) -> Any:
    """The view deriver of the ``read_only`` option."""
    if not info.options.get("read_only"):
        return view

    def reading(context: Any, request: Request) -> Any:
        request.environ[READ_ONLY] = True
        return view(context, request)

    return reading


read_only_view.options = ("read_only",)  # type: ignore[attr-defined]


def reads_only(request: Request) -> bool:
    """Whether the request's view only reads."""
    return bool(request.environ.get(READ_ONLY))


def includeme(config: Configurator) -> None:
    config.add_view_deriver(read_only_view)

"""What every script shares: reading the ini file into a composition root."""

from __future__ import annotations

from pyramid.paster import get_appsettings, setup_logging

from entrypoints.bootstrap import Registry
from entrypoints.settings import load_settings


def registry_from(config_uri: str) -> Registry:
    setup_logging(config_uri)
    return Registry(load_settings(get_appsettings(config_uri)))

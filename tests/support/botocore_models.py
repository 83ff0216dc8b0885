"""Load each botocore JSON model once per test run instead of once per session.

Every ``boto3.Session`` (the fixture's provisioning, each cold start's clients, the Powertools parameter
providers and idempotency layer, which make sessions of their own) has its own loader and parses the same
service models again: a few hundred milliseconds per test. Models are read-only data, so sharing the parsed
files (and the list of services found on disk) is safe.
"""
from __future__ import annotations

from typing import Any

import botocore.loaders

_cache: dict[str, Any] = {}
_services: dict[str, list[str]] = {}
_original_load_file = botocore.loaders.JSONFileLoader.load_file
_original_list_available_services = botocore.loaders.Loader.list_available_services


def _load_file_once(self: botocore.loaders.JSONFileLoader, file_path: str) -> Any:
    if file_path not in _cache:
        _cache[file_path] = _original_load_file(self, file_path)
    return _cache[file_path]


def _list_available_services_once(self: botocore.loaders.Loader, type_name: str) -> list[str]:
    # Lists the data directories (a few hundred services) on every new session otherwise.
    if type_name not in _services:
        _services[type_name] = _original_list_available_services(self, type_name)
    return list(_services[type_name])


def share_parsed_models() -> None:
    botocore.loaders.JSONFileLoader.load_file = _load_file_once
    botocore.loaders.Loader.list_available_services = _list_available_services_once

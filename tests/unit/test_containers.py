"""Per-container dependencies live in the container each handler module builds at import, nowhere else: a warm
container reuses them, a cold start (a fresh import of the handler module) builds them anew, and no layer module
keeps a cache or any other state of its own that could outlive a container or leak from one test into the next."""
from __future__ import annotations

import ast
import functools
import importlib
import pkgutil
from pathlib import Path
from typing import Any, Iterator

import pytest

import cruddur_messaging
from cruddur_messaging.config import ConfigurationError
from devtools.functions import LAYER_PATH
from devtools.template import REPO_ROOT
from tests.support.api import ok
from tests.support.calls import record_calls
from tests.support.containers import cold_start
from tests.support.events import SEED_GROUP_UUID, load_event
from tests.support.people import ANDREW, BAYKO
from tests.support.tutorial import SEEDED_AT, seed_conversation, tutorial_client

LAYER_PACKAGE = LAYER_PATH / "cruddur_messaging"
CACHE_DECORATORS = {"lru_cache", "cache"}


def layer_modules() -> Iterator[Any]:
    for info in pkgutil.walk_packages(cruddur_messaging.__path__, "cruddur_messaging."):
        yield importlib.import_module(info.name)


def is_functools_cache(value: Any) -> bool:
    return isinstance(value, functools._lru_cache_wrapper) or callable(getattr(value, "cache_clear", None))


def test_no_layer_module_or_class_holds_a_functools_cache() -> None:
    """What a module-level ``lru_cache`` keeps lives as long as the process: across containers in the tests,
    across the functions that share it. Per-container things belong to ``cruddur_messaging.containers``."""
    found = []
    for module in layer_modules():
        for name, value in vars(module).items():
            owners = [(name, value)]
            if isinstance(value, type) and value.__module__ == module.__name__:
                owners += [(f"{name}.{attribute}", member) for attribute, member in vars(value).items()]
            found += [f"{module.__name__}.{label}" for label, member in owners
                      if is_functools_cache(member) and str(getattr(member, "__module__", "")).startswith(
                          "cruddur_messaging")]
    assert found == []


def decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    return target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")


@pytest.mark.parametrize("path", sorted([*LAYER_PACKAGE.rglob("*.py"), *(REPO_ROOT / "functions").glob("*/*.py")]),
                         ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_no_source_caches_in_a_function_cache_or_rebinds_a_global(path: Path) -> None:
    """The source as well, nested functions and methods included (``cached_property`` is per object and fine),
    and no ``global`` statement: module state a function rebinds outlives the container that set it."""
    tree = ast.parse(path.read_text())
    cached = [node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
              and any(decorator_name(decorator) in CACHE_DECORATORS for decorator in node.decorator_list)]
    rebound = [name for node in ast.walk(tree) if isinstance(node, ast.Global) for name in node.names]
    assert (cached, rebound) == ([], [])


def test_a_warm_container_keeps_its_dependencies_and_a_cold_start_builds_new_ones(aws, monkeypatch) -> None:
    container = aws.container("ListGroupsFunction")
    ok(aws.invoke("ListGroupsFunction", load_event("list-groups")))
    resource, store, users, callers = container.dynamodb, container.message_store, container.users, container.callers
    calls = record_calls(monkeypatch)

    ok(aws.invoke("ListGroupsFunction", load_event("list-groups")))

    assert aws.container("ListGroupsFunction") is container
    assert (container.dynamodb, container.message_store, container.users, container.callers) == (
        resource, store, users, callers)
    # Warm: the caller from the container's cache, the cursor key from its secret cache, no new connection.
    assert (calls.connections, calls.sql, calls.other_aws(), calls.dynamodb()) == (0, [], [], ["Query"])

    cold_start()
    fresh = aws.container("ListGroupsFunction")
    ok(aws.invoke("ListGroupsFunction", load_event("list-groups")))

    assert fresh is not container
    assert fresh.dynamodb is not resource and fresh.users is not users and fresh.callers is not callers
    # Cold: nothing carried over from the old container.
    assert (calls.connections, calls.sql) == (1, ["user_by_cognito_user_id"])
    assert sorted(calls.other_aws()) == [("secretsmanager", "GetSecretValue"), ("ssm", "GetParameter")]


def test_settings_are_validated_when_the_handler_module_is_imported(aws, monkeypatch) -> None:
    cold_start()
    monkeypatch.delenv("MESSAGE_GROUP_INDEX_NAME")
    with pytest.raises(ConfigurationError, match="MESSAGE_GROUP_INDEX_NAME"):
        aws.container("ListGroupsFunction")
    monkeypatch.setenv("MESSAGE_GROUP_INDEX_NAME", "message-group-sk-index")
    assert aws.container("ListGroupsFunction").settings.message_group_index_name == "message-group-sk-index"


def test_a_bad_tutorial_data_setting_fails_the_cold_start_naming_it(aws, monkeypatch) -> None:
    cold_start()
    monkeypatch.setenv("TUTORIAL_DATA", "migrate")
    with pytest.raises(ConfigurationError, match="TUTORIAL_DATA must be one of read, migrated, got 'migrate'"):
        aws.container("ListMessagesFunction")
    monkeypatch.delenv("TUTORIAL_DATA")  # a function deployed without it keeps today's behaviour
    assert aws.container("ListMessagesFunction").settings.reads_tutorial_data


@pytest.mark.parametrize("tutorial_data, reads", [("read", True), ("migrated", False)])
def test_the_message_store_reads_tutorial_data_as_the_template_parameter_says(aws, monkeypatch, tutorial_data,
                                                                              reads) -> None:
    seed_conversation(tutorial_client(aws), SEED_GROUP_UUID, ANDREW, BAYKO, SEEDED_AT, lines=["old"])
    aws.deploy_with(monkeypatch, TutorialData=tutorial_data)
    for logical_id in ("ListMessagesFunction", "CreateMessageFunction"):
        container = aws.container(logical_id)
        assert container.settings.tutorial_data == tutorial_data
        assert (container.message_store.members_of(SEED_GROUP_UUID) is not None) == reads


def test_functions_in_one_process_do_not_share_a_container(aws) -> None:
    """In the tests every function runs in this process; in AWS each has containers of its own. Each handler
    module builds its own container, so one function's clients and caches are never another's."""
    containers = [aws.container(logical_id) for logical_id in ("ListGroupsFunction", "ListMessagesFunction",
                                                               "CreateMessageFunction", "MessageStreamFunction")]
    assert len({id(container) for container in containers}) == len(containers)
    assert len({id(container.dynamodb) for container in containers}) == len(containers)

"""Lambda event filtering (``FilterCriteria``) for the local stream poller: the subset of the EventBridge pattern
syntax this project's template uses.

Supported: nested objects, lists of exact values (strings, numbers, booleans, null) and ``{"prefix": "..."}``.
A pattern that uses anything else is rejected when it is compiled, so the local poller never silently lets
through (or drops) records that Lambda would treat differently.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

_SUPPORTED_OPERATORS = {"prefix"}


@dataclass(frozen=True)
class EventPattern:
    pattern: Mapping[str, Any]

    @classmethod
    def parse(cls, text: str) -> "EventPattern":
        pattern = json.loads(text)
        _validate(pattern, path="")
        return cls(pattern)

    def matches(self, event: Mapping[str, Any]) -> bool:
        return _matches_object(self.pattern, event)


def matches_any(patterns: Iterable[EventPattern], event: Mapping[str, Any]) -> bool:
    """Lambda's rule for ``FilterCriteria.Filters``: a record passes when any one filter matches it."""
    return any(pattern.matches(event) for pattern in patterns)


def _validate(pattern: Any, path: str) -> None:
    if not isinstance(pattern, dict) or not pattern:
        raise ValueError(f"filter pattern at {path or '/'} must be a non-empty object")
    for key, value in pattern.items():
        where = f"{path}/{key}"
        if isinstance(value, dict):
            _validate(value, where)
        elif isinstance(value, list) and value:
            for condition in value:
                if isinstance(condition, dict):
                    unsupported = set(condition) - _SUPPORTED_OPERATORS
                    if unsupported or len(condition) != 1 or not isinstance(condition.get("prefix"), str):
                        raise ValueError(f"unsupported filter condition at {where}: {json.dumps(condition)}")
                elif isinstance(condition, list):
                    raise ValueError(f"nested lists are not a filter condition (at {where})")
        else:
            raise ValueError(f"filter value at {where} must be an object or a non-empty list")


def _matches_object(pattern: Mapping[str, Any], event: Any) -> bool:
    if not isinstance(event, Mapping):
        return False
    for key, expected in pattern.items():
        if key not in event:
            return False
        actual = event[key]
        if isinstance(expected, dict):
            if not _matches_object(expected, actual):
                return False
        elif not _matches_values(expected, actual):
            return False
    return True


def _matches_values(conditions: list[Any], actual: Any) -> bool:
    # An array in the event matches when any of its elements matches (EventBridge semantics).
    candidates = actual if isinstance(actual, list) else [actual]
    return any(_matches_condition(condition, candidate) for condition in conditions for candidate in candidates)


def _matches_condition(condition: Any, value: Any) -> bool:
    if isinstance(condition, dict):
        return isinstance(value, str) and value.startswith(condition["prefix"])
    if isinstance(value, (dict, list)):
        return False
    # JSON equality: 1 and 1.0 are the same number, but True is not 1.
    if isinstance(condition, bool) or isinstance(value, bool):
        return condition is value
    return condition == value

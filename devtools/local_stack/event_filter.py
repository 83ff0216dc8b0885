"""Lambda event filtering (``FilterCriteria``) for the local stream poller: the filter rule grammar of the AWS
Lambda Developer Guide ("Lambda event filtering", its table of comparison operators), which is a subset of
EventBridge's event patterns.

Implemented, as that table states them:

- nested objects (And), a list of conditions on a field (Or, any one matches);
- exact values: strings (``""`` is Empty), numbers, booleans and ``null`` (Null). Like EventBridge, Lambda compares
  strings character by character and numbers by their representation ("300, 300.0, and 3.0e2 are not considered
  equal"), so ``5`` and ``5.0`` differ and ``"5"`` is not ``5``;
- ``{"prefix": "..."}`` (Begins with), on strings;
- ``{"anything-but": [...]}`` (Not): a present value that is none of the listed strings or numbers (one value
  alone is taken too, as EventBridge takes it);
- ``{"numeric": [op, n]}`` and ``{"numeric": [op, n, op, n]}`` with ``=``, ``<``, ``<=``, ``>``, ``>=`` (Numeric
  equals and range), on JSON numbers only: a DynamoDB ``N`` attribute is a string in the record, so it never
  matches a numeric rule;
- ``{"exists": true}`` (a leaf field is present) and ``{"exists": false}`` (the field is absent; the only condition
  an absent field meets).

Anything else (``suffix``, ``equals-ignore-case``, ``wildcard``, ``cidr``, ``$or``, ``anything-but`` of a
``prefix``, ...) is refused when the pattern is compiled, with an :class:`UnsupportedFilter` naming the operator:
the local poller never silently lets through (or drops) records that Lambda would treat differently.
"""
from __future__ import annotations

import json
import operator
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

NUMERIC_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
OPERATORS = ("prefix", "anything-but", "numeric", "exists")
ABSENT = object()
"""The value of a field the event does not have."""


class UnsupportedFilter(ValueError):
    """A filter pattern this implementation does not implement (or Lambda does not accept): refused, not guessed."""


@dataclass(frozen=True)
class EventPattern:
    pattern: Mapping[str, Any]

    @classmethod
    def parse(cls, text: str) -> EventPattern:
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
        raise UnsupportedFilter(f"filter pattern at {path or '/'} must be a non-empty object")
    for key, value in pattern.items():
        where = f"{path}/{key}"
        if key.startswith("$"):
            raise UnsupportedFilter(f"the {key!r} operator is not implemented by the local stream filter (at {where})")
        if isinstance(value, dict):
            _validate(value, where)
        elif isinstance(value, list) and value:
            for condition in value:
                _validate_condition(condition, where)
        else:
            raise UnsupportedFilter(f"filter value at {where} must be an object or a non-empty list")


def _validate_condition(condition: Any, where: str) -> None:
    if isinstance(condition, list):
        raise UnsupportedFilter(f"nested lists are not a filter condition (at {where})")
    if not isinstance(condition, dict):
        return  # an exact value: string, number, boolean or null
    if len(condition) != 1:
        raise UnsupportedFilter(f"a filter condition has one operator, not {sorted(condition)} (at {where})")
    ((name, argument),) = condition.items()
    if name not in OPERATORS:
        raise UnsupportedFilter(f"the {name!r} operator is not implemented by the local stream filter (at {where}); "
                                f"it implements exact values and {', '.join(OPERATORS)}")
    if name == "prefix" and not isinstance(argument, str):
        raise UnsupportedFilter(f"'prefix' takes a string, not {json.dumps(argument)} (at {where})")
    if name == "exists" and not isinstance(argument, bool):
        raise UnsupportedFilter(f"'exists' takes true or false, not {json.dumps(argument)} (at {where})")
    if name == "anything-but":
        values = argument if isinstance(argument, list) else [argument]
        if not values or not all(isinstance(value, str) or _is_number(value) for value in values):
            raise UnsupportedFilter(f"'anything-but' of {json.dumps(argument)} is not implemented by the local "
                                    f"stream filter (at {where}); it takes strings or numbers")
    if name == "numeric":
        pairs = argument if isinstance(argument, list) else []
        well_formed = all(isinstance(op, str) and op in NUMERIC_OPERATORS and _is_number(bound)
                          for op, bound in zip(pairs[::2], pairs[1::2]))
        if len(pairs) not in (2, 4) or not well_formed:
            raise UnsupportedFilter(f"'numeric' takes [op, number] or [op, number, op, number] with op one of "
                                    f"{', '.join(NUMERIC_OPERATORS)}, not {json.dumps(argument)} (at {where})")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _matches_object(pattern: Mapping[str, Any], event: Any) -> bool:
    if not isinstance(event, Mapping):
        return False
    for key, expected in pattern.items():
        actual = event.get(key, ABSENT)
        if isinstance(expected, dict):
            # A missing object is an object without fields: only "exists": false conditions inside it can hold.
            if not _matches_object(expected, {} if actual is ABSENT else actual):
                return False
        elif not _matches_values(expected, actual):
            return False
    return True


def _matches_values(conditions: list[Any], actual: Any) -> bool:
    if actual is ABSENT:
        return any(condition == {"exists": False} for condition in conditions)
    # An array in the event matches when any of its elements matches (EventBridge semantics).
    candidates = actual if isinstance(actual, list) else [actual]
    return any(_matches_condition(condition, candidate) for condition in conditions for candidate in candidates)


def _matches_condition(condition: Any, value: Any) -> bool:
    if isinstance(condition, dict):
        ((name, argument),) = condition.items()
        if name == "exists":
            return argument is True and not isinstance(value, dict)
        if name == "prefix":
            return isinstance(value, str) and value.startswith(argument)
        if name == "anything-but":
            excluded = argument if isinstance(argument, list) else [argument]
            return not isinstance(value, dict) and not any(_same_value(other, value) for other in excluded)
        pairs = list(zip(argument[::2], argument[1::2]))
        return _is_number(value) and all(NUMERIC_OPERATORS[op](value, bound) for op, bound in pairs)
    if isinstance(value, (dict, list)):
        return False
    return _same_value(condition, value)


def _same_value(condition: Any, value: Any) -> bool:
    """Exact matching: strings character by character, numbers by their JSON representation, ``true`` is not
    ``1``."""
    if isinstance(condition, str) or isinstance(value, str):
        return condition == value
    return json.dumps(condition) == json.dumps(value)

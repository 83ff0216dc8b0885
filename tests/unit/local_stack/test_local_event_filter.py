"""The FilterCriteria grammar the local stream poller implements (the AWS Lambda Developer Guide's table of comparison
operators, see devtools/local_stack/event_filter.py), checked against the template's own pattern; what it does not
implement is refused by name."""
from __future__ import annotations

import re

import pytest

from devtools.environment import LocalResources, template_context
from devtools.local_stack.event_filter import EventPattern, UnsupportedFilter, matches_any
from devtools.local_stack.stream_poller import StreamMapping
from devtools.template import StreamEvent, function_specs, load_template

TEMPLATE_PATTERN = EventPattern.parse(
    '{"eventName": ["INSERT", "MODIFY"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "MSG#"}]}}}}')


def record(event_name: str, pk: str) -> dict:
    return {"eventName": event_name, "dynamodb": {"Keys": {"pk": {"S": pk}, "sk": {"S": "2026"}}}}


@pytest.mark.parametrize(("event_name", "pk", "expected"), [
    ("INSERT", "MSG#5ae290ed", True),
    ("MODIFY", "MSG#5ae290ed", True),
    ("REMOVE", "MSG#5ae290ed", False),
    ("INSERT", "GRP#8d1b9c3e", False),
    ("INSERT", "GROUP#5ae290ed", False),
    ("INSERT", "msg#lower-case", False),
])
def test_the_templates_pattern_passes_only_new_edited_and_deleted_messages(event_name: str, pk: str,
                                                                            expected: bool) -> None:
    assert TEMPLATE_PATTERN.matches(record(event_name, pk)) is expected


def test_a_missing_field_never_matches() -> None:
    assert not TEMPLATE_PATTERN.matches({"eventName": "INSERT", "dynamodb": {"Keys": {}}})
    assert not TEMPLATE_PATTERN.matches({"eventName": "INSERT"})
    assert not TEMPLATE_PATTERN.matches({"eventName": "INSERT", "dynamodb": "not an object"})


def test_exact_values_are_typed_and_arrays_match_by_element() -> None:
    pattern = EventPattern.parse('{"n": [5], "flag": [true], "tags": ["b"], "nothing": [null], "empty": [""]}')
    assert pattern.matches({"n": 5, "flag": True, "tags": ["a", "b"], "nothing": None, "empty": ""})
    assert not pattern.matches({"n": "5", "flag": True, "tags": ["b"], "nothing": None, "empty": ""})
    assert not pattern.matches({"n": 5, "flag": 1, "tags": ["b"], "nothing": None, "empty": ""})
    assert not pattern.matches({"n": 5, "flag": True, "tags": ["a"], "nothing": None, "empty": ""})
    assert not pattern.matches({"n": 5, "flag": True, "tags": ["b"], "nothing": "null", "empty": ""})
    assert not pattern.matches({"n": 5, "flag": True, "tags": ["b"], "nothing": None, "empty": " "})


def test_numbers_are_equal_only_as_written() -> None:
    # "For numbers, Lambda also uses string representation. For example, 300, 300.0, and 3.0e2 are not considered
    # equal." (Lambda Developer Guide, Lambda event filtering)
    assert EventPattern.parse('{"n": [300]}').matches({"n": 300})
    assert not EventPattern.parse('{"n": [300]}').matches({"n": 300.0})
    assert not EventPattern.parse('{"n": [300.0]}').matches({"n": 300})


@pytest.mark.parametrize(("rule", "value", "expected"), [
    ('{"prefix": "MSG#"}', "MSG#1", True),
    ('{"prefix": "MSG#"}', "GRP#1", False),
    ('{"prefix": "MSG#"}', ["GRP#1", "MSG#1"], True),
    ('{"prefix": "5"}', 5, False),
    ('{"prefix": ""}', "", True),
    ('{"anything-but": ["REMOVE"]}', "INSERT", True),
    ('{"anything-but": ["REMOVE"]}', "REMOVE", False),
    ('{"anything-but": ["REMOVE", "MODIFY"]}', "MODIFY", False),
    ('{"anything-but": "REMOVE"}', "INSERT", True),
    ('{"anything-but": "REMOVE"}', "REMOVE", False),
    ('{"anything-but": [5]}', 5, False),
    ('{"anything-but": [5]}', 6, True),
    ('{"anything-but": [5]}', "5", True),
    ('{"numeric": ["=", 100]}', 100, True),
    ('{"numeric": ["=", 100]}', 100.5, False),
    ('{"numeric": [">", 10, "<=", 20]}', 20, True),
    ('{"numeric": [">", 10, "<=", 20]}', 10, False),
    ('{"numeric": [">", 10, "<=", 20]}', 20.5, False),
    ('{"numeric": [">=", 10, "<", 20]}', 10, True),
    ('{"numeric": ["<", 0]}', -1, True),
    ('{"numeric": [">", 0]}', "101", False),
    ('{"numeric": [">", 0]}', True, False),
    ('{"exists": true}', "anything", True),
    ('{"exists": true}', None, True),
    ('{"exists": true}', {"nested": "object"}, False),
    ('{"exists": false}', "anything", False),
])
def test_each_operator_matches_as_lambda_documents_it(rule: str, value: object, expected: bool) -> None:
    assert EventPattern.parse(f'{{"field": [{rule}]}}').matches({"field": value}) is expected


@pytest.mark.parametrize(("rule", "expected"), [
    ('{"exists": false}', True),
    ('{"exists": true}', False),
    ('{"anything-but": ["REMOVE"]}', False),
    ('{"numeric": [">", 0]}', False),
    ('{"prefix": ""}', False),
    ('""', False),
    ('null', False),
])
def test_an_absent_field_meets_only_exists_false(rule: str, expected: bool) -> None:
    assert EventPattern.parse(f'{{"field": [{rule}]}}').matches({"other": "x"}) is expected
    assert EventPattern.parse(f'{{"outer": {{"field": [{rule}]}}}}').matches({"other": "x"}) is expected


def test_conditions_on_one_field_are_ored_and_fields_are_anded() -> None:
    pattern = EventPattern.parse('{"eventName": ["INSERT", {"prefix": "MOD"}], "n": [{"numeric": [">", 1]}]}')
    assert pattern.matches({"eventName": "INSERT", "n": 2})
    assert pattern.matches({"eventName": "MODIFY", "n": 2})
    assert not pattern.matches({"eventName": "REMOVE", "n": 2})
    assert not pattern.matches({"eventName": "INSERT", "n": 1})


def test_any_filter_of_several_lets_a_record_through() -> None:
    inserts = EventPattern.parse('{"eventName": ["INSERT"]}')
    removes = EventPattern.parse('{"eventName": ["REMOVE"]}')
    assert matches_any([inserts, removes], {"eventName": "REMOVE"})
    assert not matches_any([inserts, removes], {"eventName": "MODIFY"})


@pytest.mark.parametrize(("text", "operator"), [
    ('{"eventName": [{"suffix": "T"}]}', "suffix"),
    ('{"eventName": [{"equals-ignore-case": "insert"}]}', "equals-ignore-case"),
    ('{"eventName": [{"wildcard": "IN*"}]}', "wildcard"),
    ('{"ip": [{"cidr": "10.0.0.0/24"}]}', "cidr"),
    ('{"$or": [{"a": ["x"]}, {"b": ["y"]}]}', "$or"),
    ('{"eventName": [{"anything-but": {"prefix": "I"}}]}', "anything-but"),
    ('{"eventName": [{"prefix": {"equals-ignore-case": "I"}}]}', "prefix"),
])
def test_operators_it_does_not_implement_are_refused_by_name(text: str, operator: str) -> None:
    with pytest.raises(UnsupportedFilter, match=re.escape(f"'{operator}'")):
        EventPattern.parse(text)


@pytest.mark.parametrize("text", [
    '{"eventName": [{"prefix": 5}]}',
    '{"eventName": [{"prefix": "I", "suffix": "T"}]}',
    '{"eventName": [{"exists": "yes"}]}',
    '{"eventName": [{"anything-but": []}]}',
    '{"eventName": [{"anything-but": [null]}]}',
    '{"n": [{"numeric": [">", "5"]}]}',
    '{"n": [{"numeric": ["!=", 5]}]}',
    '{"n": [{"numeric": [">", 1, "<"]}]}',
    '{"n": [{"numeric": [">", true]}]}',
    '{"n": [{"numeric": 5}]}',
    '{"eventName": "INSERT"}',
    '{"eventName": []}',
    '{"eventName": [["INSERT"]]}',
    '{}',
    '["INSERT"]',
])
def test_malformed_patterns_are_refused_when_compiled(text: str) -> None:
    with pytest.raises(UnsupportedFilter):
        EventPattern.parse(text)


def test_the_mapping_of_the_template_compiles_with_lambdas_defaults_for_the_rest() -> None:
    stream_arn = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-11-21T00:00:00.000"
    context = template_context(LocalResources(table_name="t"), stream_arn=stream_arn)
    (event,) = function_specs(load_template(), context)["MessageStreamFunction"].stream_events
    raw = event.properties
    mapping = StreamMapping.from_event(event)
    assert mapping.stream_arn == stream_arn
    assert mapping.starting_position == raw["StartingPosition"]
    assert mapping.batch_size == raw["BatchSize"]
    assert mapping.batching_window_seconds == raw["MaximumBatchingWindowInSeconds"]
    assert mapping.report_batch_item_failures is True
    assert mapping.bisect_on_error is raw["BisectBatchOnFunctionError"]
    assert mapping.max_retry_attempts == raw["MaximumRetryAttempts"]
    assert mapping.max_record_age_seconds == raw["MaximumRecordAgeInSeconds"]
    assert mapping.on_failure_arn == context["MessageStreamFailureQueue.Arn"]
    assert mapping.accepts(record("INSERT", "MSG#x")) and not mapping.accepts(record("INSERT", "GRP#x"))
    assert mapping.accepts(record("MODIFY", "MSG#x")) and not mapping.accepts(record("REMOVE", "MSG#x"))
    defaults = StreamMapping.from_event(StreamEvent("Bare", {"Stream": "arn", "StartingPosition": "LATEST"}))
    assert (defaults.batch_size, defaults.max_retry_attempts, defaults.max_record_age_seconds) == (100, -1, -1)
    assert defaults.accepts(record("REMOVE", "anything"))

"""The FilterCriteria subset the local stream poller implements, checked against the template's own pattern."""
from __future__ import annotations

import pytest

from devtools.environment import LocalResources, template_context
from devtools.local_stack.event_filter import EventPattern, matches_any
from devtools.local_stack.stream_poller import StreamMapping
from devtools.template import StreamEvent, function_specs, load_template

TEMPLATE_PATTERN = EventPattern.parse(
    '{"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "MSG#"}]}}}}')


def record(event_name: str, pk: str) -> dict:
    return {"eventName": event_name, "dynamodb": {"Keys": {"pk": {"S": pk}, "sk": {"S": "2026"}}}}


@pytest.mark.parametrize(("event_name", "pk", "expected"), [
    ("INSERT", "MSG#5ae290ed", True),
    ("MODIFY", "MSG#5ae290ed", False),
    ("REMOVE", "MSG#5ae290ed", False),
    ("INSERT", "GRP#8d1b9c3e", False),
    ("INSERT", "GROUP#5ae290ed", False),
    ("INSERT", "msg#lower-case", False),
])
def test_the_templates_pattern_passes_only_new_messages(event_name: str, pk: str, expected: bool) -> None:
    assert TEMPLATE_PATTERN.matches(record(event_name, pk)) is expected


def test_a_missing_field_never_matches() -> None:
    assert not TEMPLATE_PATTERN.matches({"eventName": "INSERT", "dynamodb": {"Keys": {}}})
    assert not TEMPLATE_PATTERN.matches({"eventName": "INSERT"})
    assert not TEMPLATE_PATTERN.matches({"eventName": "INSERT", "dynamodb": "not an object"})


def test_exact_values_are_typed_and_arrays_match_by_element() -> None:
    pattern = EventPattern.parse('{"n": [5], "flag": [true], "tags": ["b"], "nothing": [null]}')
    assert pattern.matches({"n": 5.0, "flag": True, "tags": ["a", "b"], "nothing": None})
    assert not pattern.matches({"n": "5", "flag": True, "tags": ["b"], "nothing": None})
    assert not pattern.matches({"n": 5, "flag": 1, "tags": ["b"], "nothing": None})
    assert not pattern.matches({"n": 5, "flag": True, "tags": ["a"], "nothing": None})


def test_any_filter_of_several_lets_a_record_through() -> None:
    inserts = EventPattern.parse('{"eventName": ["INSERT"]}')
    removes = EventPattern.parse('{"eventName": ["REMOVE"]}')
    assert matches_any([inserts, removes], {"eventName": "REMOVE"})
    assert not matches_any([inserts, removes], {"eventName": "MODIFY"})


@pytest.mark.parametrize("text", [
    '{"eventName": [{"anything-but": ["REMOVE"]}]}',
    '{"eventName": [{"prefix": 5}]}',
    '{"eventName": [{"prefix": "I", "suffix": "T"}]}',
    '{"eventName": "INSERT"}',
    '{"eventName": []}',
    '{"eventName": [["INSERT"]]}',
    '{}',
    '["INSERT"]',
])
def test_patterns_beyond_the_subset_are_refused_when_compiled(text: str) -> None:
    with pytest.raises(ValueError):
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
    defaults = StreamMapping.from_event(StreamEvent("Bare", {"Stream": "arn", "StartingPosition": "LATEST"}))
    assert (defaults.batch_size, defaults.max_retry_attempts, defaults.max_record_age_seconds) == (100, -1, -1)
    assert defaults.accepts(record("REMOVE", "anything"))

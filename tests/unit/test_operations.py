"""What an operator gets for every function of the template: a log group with the retention parameter, an errors
and a throttles alarm (some only with DetailedAlarms or a reservation, where another alarm sees the same failure),
notifications to the optional topic, and the operating page's word on every alarm (docs/operating.md)."""
from __future__ import annotations

from pathlib import Path

import pytest

from devtools.template import load_template

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = [logical_id for logical_id, resource in RESOURCES.items()
             if resource["Type"] == "AWS::Serverless::Function"]
ALARMS = {logical_id: resource["Properties"] for logical_id, resource in RESOURCES.items()
          if resource["Type"] == "AWS::CloudWatch::Alarm"}
CONDITIONS = {logical_id: RESOURCES[logical_id].get("Condition") for logical_id in ALARMS}
HTTP_FUNCTIONS = sorted({logical_id for logical_id in FUNCTIONS
                         for event in RESOURCES[logical_id]["Properties"].get("Events", {}).values()
                         if event["Type"] == "HttpApi"})
OPERATING = (Path(__file__).resolve().parents[2] / "docs" / "operating.md").read_text()
NOTIFY = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}


def alarms_on(namespace: str, metric: str, dimension: str, value: dict) -> list[str]:
    return [logical_id for logical_id, alarm in ALARMS.items()
            if (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
            and {"Name": dimension, "Value": value} in alarm["Dimensions"]]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_logs_to_its_own_log_group_with_retention(function) -> None:
    log_group = RESOURCES[function]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert RESOURCES[log_group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert [other for other in FUNCTIONS
            if RESOURCES[other]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] == log_group] == [function]


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_its_errors_and_throttles_alarm(function, metric) -> None:
    assert alarms_on("AWS/Lambda", metric, "FunctionName", {"Ref": function}) == [f"{function}{metric}Alarm"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_s_errors_alarm_is_optional_only_where_another_alarm_sees_its_crashes(function) -> None:
    """A crash of an HTTP function is a 5xx of the API (Api5xxAlarm); one of the stream function is a batch that
    ages (StreamIteratorAgeAlarm) and is given up (FailureQueueNotEmptyAlarm). The live functions have no such
    witness, so their errors alarms are always there."""
    covered = function in HTTP_FUNCTIONS or function == "MessageStreamFunction"
    assert CONDITIONS[f"{function}ErrorsAlarm"] == ("HasDetailedAlarms" if covered else None)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_throttles_alarms_come_with_a_reservation_or_detailed_alarms(function) -> None:
    assert CONDITIONS[f"{function}ThrottlesAlarm"] == "WatchesThrottles"


def test_the_stream_the_failure_queue_and_the_api_are_watched() -> None:
    assert alarms_on("AWS/Lambda", "IteratorAge", "FunctionName", {"Ref": "MessageStreamFunction"})
    assert alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                     {"Fn::GetAtt": ["MessageStreamFailureQueue", "QueueName"]})
    assert alarms_on("AWS/ApiGateway", "5xx", "ApiId", {"Ref": "MessagingHttpApi"})


@pytest.mark.parametrize("alarm", sorted(ALARMS))
def test_every_alarm_notifies_the_optional_topic_and_is_explained(alarm) -> None:
    assert ALARMS[alarm]["AlarmActions"] == ALARMS[alarm]["OKActions"] == NOTIFY
    function = next((name for name in FUNCTIONS if alarm.startswith(name)), None)
    assert f"`{alarm.replace(function, '<Function>') if function else alarm}`" in OPERATING

"""A flood from one user on ``make dev`` (a stack of the module's own, the template's default limits): 80 sends as
fast as 8 threads allow get some 429s with Retry-After and no 5xx; exactly the accepted sends are stored (read from
the table), and another user's send meanwhile succeeds.

What it proves: the limit holds across execution environments. The stack runs concurrent invocations of
CreateMessageFunction in separate processes (up to ``CRUDDUR_MAX_ENVIRONMENTS``), each with its own container and
clients, and the test checks that several did serve the flood, while the accepted sends never exceed one burst
plus the rate over the flood's duration. The local moto server serves one DynamoDB request at a time
(``devtools/local_stack/moto_launcher.py``), which stands for DynamoDB's own guarantee that a conditional
``UpdateItem`` is applied atomically, condition and update together
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html#WorkingWithItems.ConditionalUpdate);
what it cannot prove is that guarantee itself, nor Lambda's clocks (each environment here reads this machine's).
"""
from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import requests
from boto3.dynamodb.conditions import Key

from devtools.local_stack.launch import RunningStack
from devtools.template import load_template, parameter_defaults

SENDS = 80
THREADS = 8
DEFAULTS = parameter_defaults(load_template())
BURST, RATE = int(DEFAULTS["SendBurst"]), int(DEFAULTS["SendRatePerSecond"])


def send(stack: RunningStack, token: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{stack.info.api_url}/api/messages", json=body, timeout=60,
                         headers={"Authorization": f"Bearer {token}"})


def stored_in(stack: RunningStack, group: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb", endpoint_url=stack.info.aws_endpoint_url, region_name=stack.info.region,
                           aws_access_key_id="testing", aws_secret_access_key="testing").Table(stack.info.table_name)
    items, arguments = [], {"KeyConditionExpression": Key("pk").eq(f"MSG#{group}"), "ConsistentRead": True}
    while True:
        page = table.query(**arguments)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_a_flood_from_one_user_is_limited_across_environments_and_another_user_still_sends(
        stack: RunningStack) -> None:
    group = stack.info.seed_message_group_uuid
    andrew, bayko = stack.access_token("andrewbrown"), stack.access_token("bayko")
    tag = f"flood {uuid.uuid4().hex[:8]}"
    flood_started = threading.Event()
    other: dict[str, requests.Response] = {}

    def meanwhile() -> None:
        flood_started.wait(30)
        time.sleep(0.2)
        other["answer"] = send(stack, bayko, {"message": f"{tag}: bayko, meanwhile", "message_group_uuid": group})

    bystander = threading.Thread(target=meanwhile)
    bystander.start()
    began = time.monotonic()
    flood_started.set()
    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(lambda number: send(stack, andrew, {"message": f"{tag} #{number}",
                                                                   "message_group_uuid": group}), range(SENDS)))
    elapsed = time.monotonic() - began
    bystander.join(60)
    workers = [name for name in stack.function_workers().values() if name == "CreateMessageFunction"]

    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {200, 429}, f"{statuses}\n{stack.logs()[-3000:]}"  # no 5xx, nothing else
    accepted = [answer.json() for answer in answers if answer.status_code == 200]
    refused = [answer for answer in answers if answer.status_code == 429]
    assert refused and all(answer.json()["code"] == "rate_limited" and int(answer.headers["Retry-After"]) >= 1
                           for answer in refused)
    # At least the burst; at most the burst and what came back during the flood, however many environments served it.
    assert BURST <= len(accepted) <= BURST + int(RATE * elapsed) + 1, (len(accepted), elapsed)
    assert len(workers) >= 2, workers  # several containers shared one limit
    stored = [item for item in stored_in(stack, group) if item["message"].startswith(f"{tag} #")]
    assert sorted((item["message_uuid"], item["sk"]) for item in stored) == sorted(
        (message["uuid"], message["created_at"]) for message in accepted)  # exactly the accepted, once each
    assert other["answer"].status_code == 200, other["answer"].text
    assert [item["message_uuid"] for item in stored_in(stack, group)
            if item["message"] == f"{tag}: bayko, meanwhile"] == [other["answer"].json()["uuid"]]

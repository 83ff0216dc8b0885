"""The live functions' files in ``events/`` (``make invoke`` and ``sam local invoke -e``) give the answers their
names promise, on the seeded tables."""
from __future__ import annotations

import json

import pytest

from tests.support.containers import cold_start
from tests.support.events import load_event
from tests.support.live import AUTHORIZER_FUNCTION, CONNECTION_FUNCTION, DELIVERY_FUNCTION


def test_connect_records_the_connection_and_selects_the_subprotocol(live, seeded) -> None:
    assert live.invoke(CONNECTION_FUNCTION, load_event("live-connect")) == {
        "statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "cruddur.v1"}}


def test_disconnect_and_ping(live, seeded) -> None:
    assert live.invoke(CONNECTION_FUNCTION, load_event("live-disconnect")) == {"statusCode": 200}
    assert json.loads(live.invoke(CONNECTION_FUNCTION, load_event("live-ping"))["body"]) == {"type": "pong"}


def test_the_delivery_batch_is_delivered(live, seeded, connections) -> None:
    connection_id = connections.open()
    assert live.invoke(CONNECTION_FUNCTION, {**load_event("live-connect"), "requestContext": {
        **load_event("live-connect")["requestContext"], "connectionId": connection_id}})["statusCode"] == 200
    assert live.invoke(DELIVERY_FUNCTION, load_event("live-delivery-batch")) == {"batchItemFailures": []}
    # andrewbrown's message, then bayko reading it (the row in it is bayko's: its list item goes to bayko), then
    # andrewbrown editing and deleting his message.
    assert connections.types(connection_id) == ["message.created", "read", "message.updated", "message.deleted"]
    group = "5ae290ed-55d1-47a0-bc6d-fe2bc2700399"
    read, updated, deleted = connections.frames[connection_id][1:]
    assert read == {"type": "read", "message_group_uuid": group, "handle": "bayko",
                    "last_read_at": "2026-11-21T04:12:53.293000+00:00"}
    assert (updated["message"]["message"], updated["message"]["edited_at"]) == (
        "Have you seen the remastered Babylon 5 yet? (in HD)", "2026-11-21T04:13:10.000000+00:00")
    assert deleted == {"type": "message.deleted", "message_group_uuid": group,
                       "uuid": "0c1d7a52-3f6e-4b8a-9d21-5e4f3a2b1c01", "deleted_at": "2026-11-21T04:13:30.000000+00:00"}


def test_the_authorizer_event_carries_no_real_token_and_is_refused(monkeypatch) -> None:
    from devtools.environment import LocalResources, function_environment, local_function_specs
    from devtools.functions import context_for, handler_of

    resources = LocalResources(table_name="cruddur-messages")
    for name, value in function_environment(resources, "http://127.0.0.1:9", AUTHORIZER_FUNCTION).items():
        monkeypatch.setenv(name, value)
    cold_start()
    spec = local_function_specs(resources, "no-stream")[AUTHORIZER_FUNCTION]
    with pytest.raises(Exception, match="^Unauthorized$"):
        handler_of(spec)(load_event("live-authorizer-connect"), context_for(spec))

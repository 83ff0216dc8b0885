"""moto's DynamoDB answers, serialized without walking the botocore shape model.

moto 5 turns every result into JSON by walking the operation's output shape (``moto.core.serialize``): for a
20-item ``Query`` that is about two thirds of the request's time in the local stack, and moto is the local stack's
bottleneck under load. The data operations' results are already DynamoDB JSON (``DynamoResult`` has expanded
every attribute to ``{type: value}``), so a plain ``json.dumps``, with binary values base64-encoded as the shape
serializer does, gives the same document. Everything else (control-plane operations with timestamps, errors) keeps
moto's serializer. ``tests/unit/local_stack/test_moto_responses.py`` compares both on every attribute type.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from moto.core.responses import ActionContext, TYPE_RESPONSE
from moto.dynamodb.responses import DynamoResult

# The operations whose results moto wraps in DynamoResult and whose output is attribute maps and counts.
FAST_OPERATIONS = frozenset({"GetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem",
                             "TransactGetItems"})
CONTENT_TYPE = "application/x-amz-json-1.0"
_shape_serialized = DynamoResult.execute_result


def _binary(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def serialize_plainly(result: Any) -> str:
    return json.dumps(result, default=_binary, separators=(",", ":"))


def _execute_result(self: DynamoResult, context: ActionContext) -> TYPE_RESPONSE:
    if context.operation_model.name not in FAST_OPERATIONS:
        return _shape_serialized(self, context)
    # moto's results may carry keys the operation does not return (DeleteItem's ConsumedCapacityUnits): the shape
    # serializer leaves them out, and so does this.
    members = context.operation_model.output_shape.members
    result = {name: value for name, value in self.result.items() if name in members}
    return 200, {"Content-Type": CONTENT_TYPE}, serialize_plainly(result)


def install() -> None:
    DynamoResult.execute_result = _execute_result  # type: ignore[method-assign]

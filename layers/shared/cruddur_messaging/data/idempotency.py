"""CreateMessage's idempotency records: Powertools' DynamoDB persistence layer with two changes.

- **Spread over partitions.** A record's ``pk`` is ``IDEMPOTENCY#create-message#<request hash>`` (the hash of
  caller and key that Powertools computes; ``sk`` stays Powertools' key), so keyed sends do not share one hot
  partition. Everything else is Powertools': the 24 h window, the body check, the in-progress lock.
- **A write recognises itself.** When the in-progress record's PutItem succeeds but its response is lost, the
  SDK sends the same request again; Powertools' condition then finds a record in progress - our own - and the
  request would get a 409 until the lock expires. So every PutItem of this layer carries a fresh ``writer``
  token, and its condition also accepts a record holding that very token. The token is added when the SDK
  builds the request (``before-parameter-build``), once per API call, so the SDK's retries resend it unchanged
  while any other request, another container's or a later retry's, has a token of its own and still sees the
  record in progress.
"""
from __future__ import annotations

import uuid
from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from botocore.config import Config

from cruddur_messaging.data import keys

WRITER_ATTR = "writer"


class CreateMessageIdempotencyLayer(DynamoDBPersistenceLayer):
    def __init__(self, table_name: str, boto_config: Config) -> None:
        super().__init__(table_name=table_name, key_attr="pk", sort_key_attr="sk", boto_config=boto_config)
        # This client is the layer's own: its only PutItem is the in-progress record.
        self.client.meta.events.register("before-parameter-build.dynamodb.PutItem", _accept_own_write)

    def _get_key(self, idempotency_key: str) -> dict:
        """``idempotency_key`` is ``<function>#<hash>``: the hash picks the partition."""
        request_hash = idempotency_key.rsplit("#", 1)[-1]
        return {self.key_attr: {"S": keys.idempotency_pk(request_hash)}, self.sort_key_attr: {"S": idempotency_key}}


def _accept_own_write(params: dict[str, Any], **_: Any) -> None:
    token = {"S": uuid.uuid4().hex}
    params["Item"][WRITER_ATTR] = token
    params["ConditionExpression"] = f"({params['ConditionExpression']}) OR #writer = :writer"
    params["ExpressionAttributeNames"] = {**params.get("ExpressionAttributeNames", {}), "#writer": WRITER_ATTR}
    params["ExpressionAttributeValues"] = {**params.get("ExpressionAttributeValues", {}), ":writer": token}

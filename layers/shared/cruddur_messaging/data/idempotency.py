"""CreateMessage's idempotency records: Powertools' DynamoDB persistence layer with three changes.

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
- **An unknown outcome is kept, not forgotten.** Powertools deletes the record when the function raises, so a
  retry runs the request again. That is right when nothing was written, and wrong after a 503 raised while the
  message's write was under way (``WriteOutcomeUnknown``): it may have been applied, and a second run would store
  a second message. Such a record is kept with status ``OUTCOME_UNKNOWN`` and the write in doubt (``plan``: the
  message's uuid and time, and for a new conversation its group). The next request with the same key and body
  is refused by Powertools' condition like any retry (another body still gets its 422), then takes the record
  over (``_take_over``: in progress again, with its lock) and gets that plan back (``resumed_plan``) to make
  exactly that write, which finds itself if it was applied. A request that resumed a plan and fails again keeps
  the record unknown too, so the plan lives until a request settles it or the 24 h window ends. The normal path
  costs nothing more: the plan is only written on such a 503.
"""
from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyItemAlreadyExistsError
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord
from botocore.config import Config
from botocore.exceptions import ClientError

from cruddur_messaging.data import keys
from cruddur_messaging.errors import WriteOutcomeUnknown

WRITER_ATTR = "writer"
PLAN_ATTR = "plan"
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
_IN_PROGRESS = STATUS_CONSTANTS["INPROGRESS"]

Plan = dict[str, str]

# The plan taken over by the request running in this context (one invocation at a time per container, and each
# thread has its own context); ``one_request`` scopes it, so it never outlives its request.
_resumed_plan: ContextVar[Plan | None] = ContextVar("resumed_plan", default=None)


class UnsettledRecord(DataRecord):
    """A record whose outcome is unknown. To Powertools it is a request in progress without a lock expiry (a 409),
    which only a retry of the same request gets past, by taking it over."""

    def __init__(self, record: DataRecord, plan: Plan) -> None:
        super().__init__(idempotency_key=record.idempotency_key, status=_IN_PROGRESS,
                         expiry_timestamp=record.expiry_timestamp, payload_hash=record.payload_hash,
                         sort_key=record.sort_key)
        self.plan = plan


class CreateMessageIdempotencyLayer(DynamoDBPersistenceLayer):
    def __init__(self, table_name: str, boto_config: Config) -> None:
        super().__init__(table_name=table_name, key_attr="pk", sort_key_attr="sk", boto_config=boto_config)
        # This client is the layer's own: its only PutItem is the in-progress record.
        self.client.meta.events.register("before-parameter-build.dynamodb.PutItem", _accept_own_write)

    def resumed_plan(self) -> Plan | None:
        """The write in doubt of an earlier attempt with this key, if this request took over its record."""
        return _resumed_plan.get()

    @contextmanager
    def one_request(self) -> Iterator[None]:
        """Wraps each idempotent call: what it resumes belongs to it alone."""
        token = _resumed_plan.set(None)
        try:
            yield
        finally:
            _resumed_plan.reset(token)

    def delete_record(self, data: dict[str, Any], exception: Exception) -> None:
        """Forgets the request (Powertools) unless a write of it may have been applied: then keeps it unknown."""
        in_doubt = exception.in_doubt if isinstance(exception, WriteOutcomeUnknown) else _resumed_plan.get()
        idempotency_key = self._get_hashed_idempotency_key(data)
        if in_doubt is None or idempotency_key is None:
            super().delete_record(data, exception)
            return
        self.client.update_item(
            TableName=self.table_name,
            Key=self._get_key(idempotency_key),
            UpdateExpression="SET #status = :unknown, #plan = :plan REMOVE #in_progress_expiry",
            ExpressionAttributeNames={"#status": self.status_attr, "#plan": PLAN_ATTR,
                                      "#in_progress_expiry": self.in_progress_expiry_attr},
            ExpressionAttributeValues={":unknown": {"S": OUTCOME_UNKNOWN}, ":plan": {"S": _encode(in_doubt)}},
        )

    def _put_record(self, data_record: DataRecord) -> None:
        try:
            super()._put_record(data_record)
        except IdempotencyItemAlreadyExistsError as refused:
            # Powertools has checked the body (another one is a 422); the same request meeting an unknown outcome
            # takes it over, anything else is answered by Powertools (first response, or 409).
            if not isinstance(refused.old_data_record, UnsettledRecord):
                raise
            self._take_over(refused.old_data_record, data_record)

    def _take_over(self, unsettled: UnsettledRecord, data_record: DataRecord) -> None:
        """Puts the unknown record back in progress under this request's lock, if no other retry did first."""
        token = {"S": uuid.uuid4().hex}
        names = {"#status": self.status_attr, "#plan": PLAN_ATTR, "#writer": WRITER_ATTR}
        values: dict[str, Any] = {":in_progress": {"S": _IN_PROGRESS}, ":unknown": {"S": OUTCOME_UNKNOWN},
                                  ":plan": {"S": _encode(unsettled.plan)}, ":writer": token}
        update = "SET #status = :in_progress, #writer = :writer"
        if data_record.in_progress_expiry_timestamp is not None:
            update += ", #in_progress_expiry = :in_progress_expiry"
            names["#in_progress_expiry"] = self.in_progress_expiry_attr
            values[":in_progress_expiry"] = {"N": str(data_record.in_progress_expiry_timestamp)}
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._get_key(data_record.idempotency_key),
                UpdateExpression=update,
                # Our own writer token: the SDK's retry of this very update after a lost response.
                ConditionExpression="(#status = :unknown AND #plan = :plan) OR #writer = :writer",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            current = error.response.get("Item")  # another retry took it over, or it settled meanwhile
            raise IdempotencyItemAlreadyExistsError(
                old_data_record=self._item_to_data_record(current) if current else None) from error
        _resumed_plan.set(unsettled.plan)

    def _item_to_data_record(self, item: dict[str, Any]) -> DataRecord:
        record_status = item.get(self.status_attr, {}).get("S")
        if record_status != OUTCOME_UNKNOWN:
            return super()._item_to_data_record(item)
        record = super()._item_to_data_record({**item, self.status_attr: {"S": _IN_PROGRESS}})
        return UnsettledRecord(record, json.loads(item[PLAN_ATTR]["S"]))

    def _get_key(self, idempotency_key: str) -> dict:
        """``idempotency_key`` is ``<function>#<hash>``: the hash picks the partition."""
        request_hash = idempotency_key.rsplit("#", 1)[-1]
        return {self.key_attr: {"S": keys.idempotency_pk(request_hash)}, self.sort_key_attr: {"S": idempotency_key}}


def _encode(plan: Plan) -> str:
    return json.dumps(plan, sort_keys=True)


def _accept_own_write(params: dict[str, Any], **_: Any) -> None:
    token = {"S": uuid.uuid4().hex}
    params["Item"][WRITER_ATTR] = token
    params["ConditionExpression"] = f"({params['ConditionExpression']}) OR #writer = :writer"
    params["ExpressionAttributeNames"] = {**params.get("ExpressionAttributeNames", {}), "#writer": WRITER_ATTR}
    params["ExpressionAttributeValues"] = {**params.get("ExpressionAttributeValues", {}), ":writer": token}

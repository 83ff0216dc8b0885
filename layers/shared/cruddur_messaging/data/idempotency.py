"""CreateMessage's idempotency records: Powertools' DynamoDB persistence layer with four changes.

- **Spread over partitions.** A record's ``pk`` is ``IDEMPOTENCY#create-message#<request hash>`` (the hash of
  caller and key that Powertools computes; ``sk`` stays Powertools' key), so keyed sends do not share one hot
  partition. Everything else is Powertools': the 24 h window, the body check, the in-progress lock, whose expiry
  is the invocation's remaining time when the record is written (``register_lambda_context``; a record without
  one is refused here, since it would answer 409 for the whole 24 h).
- **The plan is in the record.** The in-progress record's ``PutItem`` also holds the request's ``plan`` (the
  message's uuid and time, and the group a new conversation gets), fixed before anything is written: whatever
  happens to the request after that write - a crash, a kill, a timeout, a lost response, a 503 - the write it
  may have made is named in the record, at no extra call.
- **An abandoned record is taken over, not overwritten.** Powertools' condition lets a new request overwrite an
  in-progress record whose lock has expired, with a fresh start: after a request died having written its
  message, the retry would store a second one. Here that record is refused like any other, and the same request
  (Powertools has checked the body: another one is a 422) takes it over (``_take_over``: a conditional
  ``UpdateItem``, in progress again under this request's lock) and runs the recorded plan, which finds its
  own write if it was made. So does a record whose request ended in a 503 with its write in doubt
  (``WriteOutcomeUnknown``): Powertools would delete it; it is kept with status ``OUTCOME_UNKNOWN`` (no lock:
  its retry takes it over at once). A request that took a plan over and fails again keeps it unknown too, so
  the plan lives until a request settles it or the 24 h window ends.
- **A write recognises itself.** When the in-progress record's PutItem succeeds but its response is lost, the
  SDK sends the same request again; the condition would then find a record in progress - our own - and the
  request would get a 409 until the lock expires. So every PutItem of this layer carries a fresh ``writer``
  token, and its condition also accepts a record holding that very token. The token is added when the SDK
  builds the request (``before-parameter-build``), once per API call, so the SDK's retries resend it unchanged
  while any other request, another container's or a later retry's, has a token of its own.
"""
from __future__ import annotations

import json
import time
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Iterator

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyItemAlreadyExistsError
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord
from botocore.config import Config
from botocore.exceptions import ClientError

from cruddur_messaging.data import keys
from cruddur_messaging.errors import WriteOutcomeUnknown
from cruddur_messaging.observability import logger

WRITER_ATTR = "writer"
PLAN_ATTR = "plan"
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
_IN_PROGRESS = STATUS_CONSTANTS["INPROGRESS"]

Plan = dict[str, str]


@dataclass
class _Request:
    plan: Plan
    resumed: bool = False
    """The plan is an earlier attempt's, taken over with its record: that attempt may have written it."""


# The request running in this context (one invocation at a time per container, and each thread has its own
# context); ``one_request`` scopes it, so it never outlives its request.
_current: ContextVar[_Request | None] = ContextVar("current_send_request", default=None)


class HeldRecord(DataRecord):
    """A record of a request not finished: in progress, or ``unsettled`` (its outcome unknown: to Powertools, in
    progress without a lock expiry, a 409). ``plan`` is the write its request planned (``None`` on a record
    written before plans were recorded). A takeover's condition checks ``stored_status`` and the lock as read, so
    that only one retry takes a record over."""

    def __init__(self, record: DataRecord, plan: Plan | None, stored_status: str) -> None:
        super().__init__(idempotency_key=record.idempotency_key, status=_IN_PROGRESS,
                         expiry_timestamp=record.expiry_timestamp,
                         in_progress_expiry_timestamp=record.in_progress_expiry_timestamp,
                         payload_hash=record.payload_hash, sort_key=record.sort_key)
        self.plan = plan
        self.stored_status = stored_status

    @property
    def unsettled(self) -> bool:
        return self.stored_status == OUTCOME_UNKNOWN

    def abandoned(self, now_ms: int) -> bool:
        """Its request is over without an answer: it ended in doubt, or its lock (its invocation's timeout)
        expired. Lambda stops a function at its ``Timeout`` (Lambda API reference, ``FunctionConfiguration.Timeout``:
        "the amount of time that Lambda allows a function to run before stopping it"), though it has been seen to
        stop it a fraction of a second late (powertools-lambda-python issue 4759): a takeover in that moment runs the
        same plan as the dying attempt, and the plan's writes recognise each other (a message put accepts its own
        message, the group's transaction its own pair), so it still makes one message."""
        lock = self.in_progress_expiry_timestamp
        return self.unsettled or (lock is not None and lock < now_ms)


class CreateMessageIdempotencyLayer(DynamoDBPersistenceLayer):
    def __init__(self, table_name: str, boto_config: Config) -> None:
        super().__init__(table_name=table_name, key_attr="pk", sort_key_attr="sk", boto_config=boto_config)
        # This client is the layer's own: its only PutItem is the in-progress record.
        self.client.meta.events.register("before-parameter-build.dynamodb.PutItem", self._prepare_put)

    def plan(self) -> Plan:
        """The write this request makes: its own plan, or the one of the earlier attempt it took over."""
        current = _current.get()
        if current is None:
            raise RuntimeError("plan() outside one_request()")
        return current.plan

    def resumed(self) -> bool:
        """Whether the request running took an earlier attempt's plan over: that attempt was counted against the
        sender's limits already (``domain.send_limits``)."""
        current = _current.get()
        return current is not None and current.resumed

    @contextmanager
    def one_request(self, plan: Plan) -> Iterator[None]:
        """Wraps each idempotent call with the plan it makes unless it takes an earlier attempt's over."""
        token = _current.set(_Request(plan))
        try:
            yield
        finally:
            _current.reset(token)

    def delete_record(self, data: dict[str, Any], exception: Exception) -> None:
        """Forgets the request (Powertools) unless a write of it may have been applied: then keeps it unknown."""
        current = _current.get()
        if isinstance(exception, WriteOutcomeUnknown):
            in_doubt: Plan | None = exception.in_doubt
        else:
            in_doubt = current.plan if current is not None and current.resumed else None
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
        if data_record.in_progress_expiry_timestamp is None:
            raise RuntimeError("The idempotency config has no Lambda context (register_lambda_context): the "
                               "in-progress lock would have no expiry.")
        try:
            super()._put_record(data_record)
        except IdempotencyItemAlreadyExistsError as refused:
            # Powertools has checked the body (another one is a 422); the same request meeting an abandoned record
            # takes it over, anything else is answered by Powertools (the first response, or 409).
            held = refused.old_data_record
            if not isinstance(held, HeldRecord) or not held.abandoned(int(time.time() * 1000)):
                raise
            self._take_over(held, data_record)

    def _take_over(self, held: HeldRecord, data_record: DataRecord) -> None:
        """Puts the abandoned record back in progress under this request's lock, if no other retry did first."""
        current = _current.get()
        token = {"S": uuid.uuid4().hex}
        names = {"#status": self.status_attr, "#writer": WRITER_ATTR,
                 "#in_progress_expiry": self.in_progress_expiry_attr}
        values: dict[str, Any] = {":in_progress": {"S": _IN_PROGRESS}, ":held": {"S": held.stored_status},
                                  ":writer": token,
                                  ":in_progress_expiry": {"N": str(data_record.in_progress_expiry_timestamp)}}
        update = "SET #status = :in_progress, #writer = :writer, #in_progress_expiry = :in_progress_expiry"
        # The record as it was read: the same status and lock (a lock is another request's the moment it changes).
        condition = "#status = :held AND "
        if held.in_progress_expiry_timestamp is None:
            condition += "attribute_not_exists(#in_progress_expiry)"
        else:
            condition += "#in_progress_expiry = :lock"
            values[":lock"] = {"N": str(held.in_progress_expiry_timestamp)}
        plan = held.plan
        if plan is None and current is not None:
            # Written before plans were recorded: its write cannot be known, this request's plan is recorded now.
            plan = current.plan
        if plan is not None:
            update += ", #plan = :plan"
            names["#plan"] = PLAN_ATTR
            values[":plan"] = {"S": _encode(plan)}
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._get_key(data_record.idempotency_key),
                UpdateExpression=update,
                # Our own writer token: the SDK's retry of this very update after a lost response.
                ConditionExpression=f"({condition}) OR #writer = :writer",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            now = error.response.get("Item")  # another retry took it over, or it settled meanwhile
            raise IdempotencyItemAlreadyExistsError(
                old_data_record=self._item_to_data_record(now) if now else None) from error
        logger.info("took over the record of an earlier attempt with this key",
                    extra={"record_status": held.stored_status, "planned": held.plan is not None})
        if current is not None and held.plan is not None:
            current.plan = held.plan
            current.resumed = True

    def _item_to_data_record(self, item: dict[str, Any]) -> DataRecord:
        stored_status = item.get(self.status_attr, {}).get("S")
        if stored_status not in (OUTCOME_UNKNOWN, _IN_PROGRESS):
            return super()._item_to_data_record(item)
        record = super()._item_to_data_record({**item, self.status_attr: {"S": _IN_PROGRESS}})
        plan = json.loads(item[PLAN_ATTR]["S"]) if PLAN_ATTR in item else None
        return HeldRecord(record, plan, stored_status)

    def _get_key(self, idempotency_key: str) -> dict:
        """``idempotency_key`` is ``<function>#<hash>``: the hash picks the partition."""
        request_hash = idempotency_key.rsplit("#", 1)[-1]
        return {self.key_attr: {"S": keys.idempotency_pk(request_hash)}, self.sort_key_attr: {"S": idempotency_key}}

    def _prepare_put(self, params: dict[str, Any], **_: Any) -> None:
        """The in-progress record's PutItem: with this request's plan and a fresh writer token, and Powertools'
        condition less its overwrite of an expired lock (that record is taken over instead: ``_take_over``)."""
        token = {"S": uuid.uuid4().hex}
        params["Item"][WRITER_ATTR] = token
        current = _current.get()
        if current is not None:
            params["Item"][PLAN_ATTR] = {"S": _encode(current.plan)}
        params["ConditionExpression"] = "attribute_not_exists(#id) OR #expiry < :now OR #writer = :writer"
        params["ExpressionAttributeNames"] = {"#id": self.key_attr, "#expiry": self.expiry_attr,
                                              "#writer": WRITER_ATTR}
        params["ExpressionAttributeValues"] = {":now": params["ExpressionAttributeValues"][":now"],
                                               ":writer": token}


def _encode(plan: Plan) -> str:
    return json.dumps(plan, sort_keys=True)

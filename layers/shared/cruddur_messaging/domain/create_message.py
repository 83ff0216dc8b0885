"""Patterns C and D: send into a group the caller belongs to, or start (or resume) a 1:1 conversation.

Starting a conversation reuses the pair's group when there is one (its pair item, or for data written the
tutorial's way, what ``data.tutorial_data`` finds). Otherwise the pair item, the membership, both
group rows and the first message are written in one transaction; the pair item's condition makes two racing
requests end with one group, the loser posting into it.

Every request fixes its write before making it (``SendPlan``: the message's uuid and time, and the group a new
conversation gets), so whatever write of it was applied can be recognised.

With an ``Idempotency-Key`` the whole use case runs once per (caller, key): a retry gets the first answer and
writes nothing; the same key with another body is refused. The plan is written in the in-progress idempotency
record, before anything else (``data.idempotency``). When the first attempt never answered - it crashed, was
killed, timed out, or ended in a 503 while its write was under way (``WriteOutcomeUnknown``) - the retry takes
its record over and resumes that plan instead of planning anew: a message put finds its own message or writes
it, and a new conversation whose pair names the planned group was created by it, so its first message is the
answer. A resumed message keeps the uuid and time of its first attempt.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Iterator

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from cruddur_messaging.clock import next_microsecond, utc_now
from cruddur_messaging.data.blocks import BlockStore
from cruddur_messaging.data.idempotency import CreateMessageIdempotencyLayer
from cruddur_messaging.data.messages import (
    MessageStore,
    PairAlreadyHasGroup,
    SlotTaken,
    message_item,
)
from cruddur_messaging.data.users import UserRepository
from cruddur_messaging.domain.blocks import refuse_if_blocked, refuse_if_blocked_in_group
from cruddur_messaging.domain.list_messages import message_of
from cruddur_messaging.domain.membership import require_membership
from cruddur_messaging.domain.send_limits import SendLimits
from cruddur_messaging.domain.validation import (
    check_message_form,
    check_message_rules,
    normalize_handle,
    parse_message_group_uuid,
)
from cruddur_messaging.errors import (
    BadRequest,
    DependencyUnavailable,
    ErrorCode,
    NotFound,
    RequestInProgress,
    RuleViolation,
    WriteOutcomeUnknown,
)
from cruddur_messaging.message_ids import uuid7_at
from cruddur_messaging.models import CreatedMessage, User
from cruddur_messaging.observability import logger, metrics

IDEMPOTENCY_KEY_MAX_LENGTH = 255
IDEMPOTENCY_WINDOW_SECONDS = 24 * 60 * 60
# Attempts at starting a conversation: a lost race or a taken microsecond sends us round once more.
MAX_START_ATTEMPTS = 3


@dataclass(frozen=True)
class NewMessageRequest:
    message: str
    message_group_uuid: str | None = None
    handle: str | None = None

    @classmethod
    def parse(cls, body: Any) -> "NewMessageRequest":
        """Validates the JSON body: 400 for a malformed request, 422 for one that breaks a rule."""
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object.", code=ErrorCode.INVALID_BODY)
        message, group, handle = body.get("message"), body.get("message_group_uuid"), body.get("handle")
        check_message_form(message)
        if (group is None) == (handle is None):
            raise BadRequest("Send either message_group_uuid or handle.",
                             code=ErrorCode.MESSAGE_GROUP_UUID_OR_HANDLE_REQUIRED)
        if group is not None:
            group = parse_message_group_uuid(group)
        if handle is not None:
            handle = normalize_handle(handle)
        message = check_message_rules(message)
        return cls(message=message, message_group_uuid=group, handle=handle)


@dataclass(frozen=True)
class SendPlan:
    """The write a request makes, fixed before it is made: the message's uuid and time (a taken slot moves it on,
    the same way every time) and the uuid a new conversation's group gets."""

    message_uuid: str
    created_at: str
    group_uuid: str

    @classmethod
    def fresh(cls) -> "SendPlan":
        """The message's uuid is a UUIDv7 of its time (``message_ids``): planned together, a resumed send keeps
        both, and the message is found by its uuid without reading the conversation."""
        created_at = utc_now()
        return cls(message_uuid=uuid7_at(created_at), created_at=created_at, group_uuid=str(uuid.uuid4()))


class MessageSending:
    """What sending needs, one per container: the message store, the users (recipients by handle), the
    idempotency of keyed sends (Powertools' configuration, the container's persistence layer, and the use case
    wrapped by them once), the senders' limits and the blocks every send checks (``domain.blocks``; a blocked send
    is refused before it is counted)."""

    def __init__(self, store: MessageStore, users: UserRepository,
                 persistence: CreateMessageIdempotencyLayer, limits: SendLimits, *, blocks: BlockStore) -> None:
        self.store = store
        self.users = users
        self.persistence = persistence
        self.limits = limits
        self.blocks = blocks
        self.idempotency_config = IdempotencyConfig(
            event_key_jmespath="[caller, key]", payload_validation_jmespath="request",
            expires_after_seconds=IDEMPOTENCY_WINDOW_SECONDS)
        self.create_once = _idempotent_create(self)


def create_message(sending: MessageSending, caller: User, request: NewMessageRequest,
                   idempotency_key: str | None = None) -> dict[str, str]:
    """The response body of ``POST /api/messages``."""
    if idempotency_key is None:
        return _create(sending, caller, request, SendPlan.fresh()).to_body()
    if not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_MAX_LENGTH or not idempotency_key.isprintable():
        raise BadRequest("Idempotency-Key must be 1 to 255 printable characters.",
                         code=ErrorCode.INVALID_IDEMPOTENCY_KEY)
    submission = {"caller": caller.uuid, "key": idempotency_key, "request": asdict(request)}
    try:
        with sending.persistence.one_request(asdict(SendPlan.fresh())):
            return sending.create_once(submission=submission, caller=caller, request=request)
    except IdempotencyValidationError as error:
        raise RuleViolation("This Idempotency-Key was used with another request.",
                            code=ErrorCode.IDEMPOTENCY_KEY_REUSED) from error
    except IdempotencyAlreadyInProgressError as error:
        raise RequestInProgress("A request with this Idempotency-Key is still in progress.") from error
    except IdempotencyPersistenceLayerError as error:
        raise DependencyUnavailable("The message store is temporarily unavailable.") from error


def _idempotent_create(sending: MessageSending) -> Callable[..., dict[str, str]]:
    """The use case, once per (caller, key). Its name and this function's make the records' key (Powertools
    prefixes it with ``module.qualname``): renaming either would forget the records of the last 24 hours."""
    persistence = sending.persistence

    @idempotent_function(data_keyword_argument="submission", persistence_store=persistence,
                         config=sending.idempotency_config)
    def create_once(submission: dict[str, Any], caller: User, request: NewMessageRequest) -> dict[str, str]:
        return _create(sending, caller, request, SendPlan(**persistence.plan())).to_body()

    return create_once


def _create(sending: MessageSending, caller: User, request: NewMessageRequest, plan: SendPlan) -> CreatedMessage:
    store = sending.store
    if request.message_group_uuid is not None:
        membership = require_membership(store, request.message_group_uuid, caller, record=True)
        refuse_if_blocked_in_group(sending.blocks, caller, membership)
        sending.limits.admit(caller, plan.message_uuid)
        return CreatedMessage(message=_post(store, request.message_group_uuid, caller, request.message, plan))
    return _start_conversation(sending, caller, request.handle or "", request.message, plan)


@contextmanager
def _in_doubt(plan: SendPlan) -> Iterator[None]:
    """A 503 from here on leaves the planned write in doubt: it may have been applied."""
    try:
        yield
    except WriteOutcomeUnknown:
        raise
    except DependencyUnavailable as error:
        raise WriteOutcomeUnknown(error.message, in_doubt=asdict(plan)) from error


def _post(store: MessageStore, message_group_uuid: str, sender: User, text: str, plan: SendPlan):
    with _in_doubt(plan):
        item = store.put_message(message_group_uuid, sender, text, plan.message_uuid, plan.created_at)
    metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
    return message_of(item)


def _start_conversation(sending: MessageSending, caller: User, handle: str, text: str,
                        plan: SendPlan) -> CreatedMessage:
    store = sending.store
    recipient = sending.users.find_by_handle(handle)
    if recipient is None:
        raise NotFound(f"No user with the handle @{handle}.", code=ErrorCode.USER_NOT_FOUND)
    if recipient.uuid == caller.uuid:
        raise RuleViolation("You cannot start a conversation with yourself.", code=ErrorCode.MESSAGE_SELF)

    for _ in range(MAX_START_ATTEMPTS):
        pair = store.pair(caller.uuid, recipient.uuid)
        refuse_if_blocked(pair.blocked_by, caller, recipient.uuid)
        existing = pair.group_uuid
        if existing == plan.group_uuid:
            # Only this request's transaction writes the planned group: it went through (its answer was lost, and
            # the SDK's retry of it was refused, or an earlier attempt with this key ended in a 503).
            logger.info("the conversation this request started was created after all")
            return _started(existing, message_item(existing, caller, text, plan.message_uuid, plan.created_at))
        sending.limits.admit(caller, plan.message_uuid, new_conversation=not existing)
        if existing:
            return CreatedMessage(message=_post(store, existing, caller, text, plan), message_group_uuid=existing)
        try:
            return _started(plan.group_uuid, _create_group(store, caller, recipient, text, plan))
        except PairAlreadyHasGroup as refused:
            logger.info("the pair has a group now; looking it up (a lost race, or our own transaction)")
            plan = replace(plan, created_at=refused.message["sk"])
    raise WriteOutcomeUnknown("Could not start the conversation; please retry.", in_doubt=asdict(plan))


def _started(group_uuid: str, first_message: dict[str, str]) -> CreatedMessage:
    metrics.add_metric(name="ConversationsStarted", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
    return CreatedMessage(message=message_of(first_message), message_group_uuid=group_uuid)


def _create_group(store: MessageStore, caller: User, recipient: User, text: str, plan: SendPlan) -> dict[str, str]:
    """The planned group's transaction, moved a microsecond on while a member already has a group row at that
    instant (nothing was written then). The write in doubt is the last one tried."""
    for _ in range(MAX_START_ATTEMPTS):
        with _in_doubt(plan):
            try:
                return store.create_group(plan.group_uuid, caller, recipient, text, plan.message_uuid,
                                          plan.created_at)
            except SlotTaken:
                plan = replace(plan, created_at=next_microsecond(plan.created_at))
    raise DependencyUnavailable("Could not start the conversation; please retry.")

"""Patterns C and D: send into a group the caller belongs to, or start (or resume) a 1:1 conversation.

Starting a conversation reuses the pair's group when there is one (a pair item, or for data written the
tutorial's way, the sender's group row naming the other user). Otherwise the pair item, the membership, both
group rows and the first message are written in one transaction; the pair item's condition makes two racing
requests end with one group, the loser posting into it.

With an ``Idempotency-Key`` the whole use case runs once per (caller, key): a retry gets the first answer and
writes nothing; the same key with another body is refused.
"""
from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Callable

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from cruddur_messaging.clock import next_microsecond, utc_now
from cruddur_messaging.config import get_settings
from cruddur_messaging.data.dynamodb import CLIENT_CONFIG
from cruddur_messaging.data.idempotency import CreateMessageIdempotencyLayer
from cruddur_messaging.data.messages import MessageStore, PairAlreadyHasGroup, SlotTaken, message_store
from cruddur_messaging.data.users import user_repository
from cruddur_messaging.domain.list_messages import message_of
from cruddur_messaging.domain.membership import require_membership
from cruddur_messaging.domain.validation import normalize_handle, parse_message_group_uuid
from cruddur_messaging.errors import BadRequest, DependencyUnavailable, NotFound, RequestInProgress, RuleViolation
from cruddur_messaging.models import MESSAGE_MAX_CHARS, CreatedMessage, Membership, User
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
            raise BadRequest("The body must be a JSON object.", code="invalid_body")
        message, group, handle = body.get("message"), body.get("message_group_uuid"), body.get("handle")
        if message is not None and not isinstance(message, str):
            raise BadRequest("message must be a string.", code="invalid_message")
        if message is not None and not _is_unicode_text(message):
            # JSON may carry a lone surrogate ("\ud800"); DynamoDB cannot store it, so it is refused here.
            raise BadRequest("message must be valid Unicode text.", code="invalid_message")
        if (group is None) == (handle is None):
            raise BadRequest("Send either message_group_uuid or handle.", code="message_group_uuid_or_handle_required")
        if group is not None:
            group = parse_message_group_uuid(group)
        if handle is not None:
            handle = normalize_handle(handle)
        if message is None or not message.strip():
            raise RuleViolation("The message is blank.", code="message_blank")
        if len(message) > MESSAGE_MAX_CHARS:
            raise RuleViolation(f"The message is longer than {MESSAGE_MAX_CHARS} characters.",
                                code="message_exceed_max_chars")
        return cls(message=message, message_group_uuid=group, handle=handle)


def _is_unicode_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def create_message(caller: User, request: NewMessageRequest, idempotency_key: str | None = None) -> dict[str, str]:
    """The response body of ``POST /api/messages``."""
    if idempotency_key is None:
        return _create(caller, request).to_body()
    if not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_MAX_LENGTH or not idempotency_key.isprintable():
        raise BadRequest("Idempotency-Key must be 1 to 255 printable characters.", code="invalid_idempotency_key")
    submission = {"caller": caller.uuid, "key": idempotency_key, "request": asdict(request)}
    try:
        return _idempotent_create()(submission=submission, caller=caller, request=request)
    except IdempotencyValidationError as error:
        raise RuleViolation("This Idempotency-Key was used with another request.",
                            code="idempotency_key_reused") from error
    except IdempotencyAlreadyInProgressError as error:
        raise RequestInProgress("A request with this Idempotency-Key is still in progress.") from error
    except IdempotencyPersistenceLayerError as error:
        raise DependencyUnavailable("The message store is temporarily unavailable.") from error


def idempotency_config() -> IdempotencyConfig:
    return _idempotency_setup()[0]


@lru_cache(maxsize=1)
def _idempotency_setup() -> tuple[IdempotencyConfig, CreateMessageIdempotencyLayer]:
    config = IdempotencyConfig(event_key_jmespath="[caller, key]", payload_validation_jmespath="request",
                               expires_after_seconds=IDEMPOTENCY_WINDOW_SECONDS)
    persistence = CreateMessageIdempotencyLayer(table_name=get_settings().table_name, boto_config=CLIENT_CONFIG)
    return config, persistence


@lru_cache(maxsize=1)
def _idempotent_create() -> Callable[..., dict[str, str]]:
    config, persistence = _idempotency_setup()

    @idempotent_function(data_keyword_argument="submission", persistence_store=persistence, config=config)
    def create_once(submission: dict[str, Any], caller: User, request: NewMessageRequest) -> dict[str, str]:
        return _create(caller, request).to_body()

    return create_once


def _create(caller: User, request: NewMessageRequest) -> CreatedMessage:
    store = message_store()
    if request.message_group_uuid is not None:
        membership = require_membership(store, request.message_group_uuid, caller)
        if not membership.recorded and len(membership.member_uuids) == 2:
            # Tutorial data: record the members so the next check is one consistent read. Only with both owners
            # seen: the index lags the table, and a row caught mid-move must not lock its owner out for good.
            store.save_membership(membership, utc_now())
        return CreatedMessage(message=_post(store, request.message_group_uuid, caller, request.message))
    return _start_conversation(store, caller, request.handle or "", request.message)


def _post(store: MessageStore, message_group_uuid: str, sender: User, text: str):
    item = store.put_message(message_group_uuid, sender, text, str(uuid.uuid4()), utc_now())
    metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
    return message_of(item)


def _start_conversation(store: MessageStore, caller: User, handle: str, text: str) -> CreatedMessage:
    recipient = user_repository().find_by_handle(handle)
    if recipient is None:
        raise NotFound(f"No user with the handle @{handle}.", code="user_not_found")
    if recipient.uuid == caller.uuid:
        raise RuleViolation("You cannot start a conversation with yourself.", code="message_self")

    # Groups this request tried to create without learning that it did: if the pair turns out to name one of
    # them, that transaction went through (its answer was lost and the SDK's retry of it refused), so its first
    # message is the one sent, and is not posted again.
    attempted: dict[str, dict[str, str]] = {}
    for _ in range(MAX_START_ATTEMPTS):
        existing = store.find_pair_group(caller.uuid, recipient.uuid) or _legacy_pair_group(store, caller, recipient)
        if existing in attempted:
            logger.info("the conversation this request started was created after all")
            return _started(existing, attempted[existing])
        if existing:
            return CreatedMessage(message=_post(store, existing, caller, text), message_group_uuid=existing)
        group_uuid, created_at = str(uuid.uuid4()), utc_now()
        try:
            item = _create_group(store, group_uuid, caller, recipient, text, created_at)
        except PairAlreadyHasGroup as refused:
            logger.info("the pair has a group now; looking it up (a lost race, or our own transaction)")
            attempted[refused.message_group_uuid] = refused.message
            continue
        return _started(group_uuid, item)
    raise DependencyUnavailable("Could not start the conversation; please retry.")


def _started(group_uuid: str, first_message: dict[str, str]) -> CreatedMessage:
    metrics.add_metric(name="ConversationsStarted", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
    return CreatedMessage(message=message_of(first_message), message_group_uuid=group_uuid)


def _create_group(store: MessageStore, group_uuid: str, caller: User, recipient: User, text: str,
                  created_at: str) -> dict[str, str]:
    """The transaction, moved a microsecond on while a member already has a group row at that instant."""
    for _ in range(MAX_START_ATTEMPTS):
        try:
            return store.create_group(group_uuid, caller, recipient, text, str(uuid.uuid4()), created_at)
        except SlotTaken:
            created_at = next_microsecond(created_at)
    raise DependencyUnavailable("Could not start the conversation; please retry.")


def _legacy_pair_group(store: MessageStore, caller: User, recipient: User) -> str | None:
    """A group the pair already has from data written the tutorial's way; remembered as a pair from now on."""
    group_uuid = store.find_legacy_pair_group(caller.uuid, recipient.uuid)
    if group_uuid:
        store.save_pair(caller.uuid, recipient.uuid, group_uuid)
        store.save_membership(Membership(group_uuid, frozenset({caller.uuid, recipient.uuid})), utc_now())
    return group_uuid


"""Per-user limits on sending: each user may send ``SendBurst`` messages at once, then ``SendRatePerSecond`` a second,
and start ``NewConversationBurst`` new conversations at once, then ``NewConversationRatePerMinute`` a minute.

The state is in DynamoDB (``data.send_limits``), one item per user and action, so a limit holds across every
container: a counter per container is not a limit. The algorithm is GCRA, the generic cell rate algorithm (a token
bucket stated as one time): a limit of burst ``B`` and interval ``T`` (one send every ``T`` on average) keeps
``tat``, the time at which the sender's allowance is whole again; a send at ``now`` is allowed iff
``max(tat, now) + T - now <= B * T``, and moves ``tat`` to ``max(tat, now) + T``. DynamoDB's expressions have no
``max()``, so:

1. ``start_afresh`` (``tat = now + T`` if there is no ``tat`` or it has passed): the sender's common case, one
   conditional ``UpdateItem``;
2. refused, it returned ``tat`` (ahead of now): if ``tat + T - now > B * T`` the send is refused here, no more calls,
   with ``Retry-After`` = the whole seconds until it would fit (at least 1); else ``add_interval`` (``tat += T`` if
   ``tat <= now + (B - 1) T``), which is atomic however many sends of the user race for the same allowance.

Where a send is checked (``domain.create_message``): after everything that can refuse it for its own reason
(validation, membership, the recipient) and before its first write, so a refused send stores nothing and bad input
is still answered for what it is. A send into an existing conversation counts against the send limit; one that
starts a conversation counts against both, new conversations first (a send refused by the send limit then gives
its new-conversation count back).

Idempotent retries are never counted again nor refused: a retry of a finished send is answered from its record
before anything runs, and a retry that resumes an earlier attempt's plan (``data.idempotency``: that attempt died
or ended in a 503 in doubt) skips the check, since that attempt was checked. The count recognises its own request
(``writer``: the planned message's uuid), so the SDK's resend of an update whose response was lost, or the same
request checked again after a lost race for a new pair, counts nothing more.

Clocks: ``now`` is the container's clock (Lambda's are kept in sync by the Amazon Time Sync Service); a container
a few milliseconds off moves a limit by that much, never more.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from cruddur_messaging.clock import epoch_microseconds
from cruddur_messaging.config import SendLimitSettings
from cruddur_messaging.data.send_limits import MICROSECONDS, LimitStore, Spent
from cruddur_messaging.errors import DependencyUnavailable, RateLimited
from cruddur_messaging.models import User
from cruddur_messaging.observability import logger

SEND = "send"
NEW_CONVERSATION = "new-conversation"
# Updates of one limit per request: the first guess, the increment, and once more for an allowance that changed in
# between (a sender racing themself); only a give-back racing the same sender's sends goes further.
MAX_UPDATES = 4


@dataclass(frozen=True)
class Limit:
    action: str
    burst: int
    interval_us: int
    """One send's worth of allowance comes back every interval (1 / the rate)."""
    described: str
    """For the 429's message: what the limit is, in words."""

    @property
    def tolerance_us(self) -> int:
        """How far ahead of now ``tat`` may be after a send: the whole burst."""
        return self.burst * self.interval_us


def limits_of(settings: SendLimitSettings) -> tuple[Limit, Limit]:
    """The send limit and the new-conversation limit the settings describe."""
    sends = Limit(SEND, settings.send_burst, MICROSECONDS // settings.send_rate_per_second,
                  f"Too many messages: {settings.send_burst} at once, then {settings.send_rate_per_second} a second.")
    conversations = Limit(NEW_CONVERSATION, settings.new_conversation_burst,
                          60 * MICROSECONDS // settings.new_conversation_rate_per_minute,
                          f"Too many new conversations: {settings.new_conversation_burst} at once, then "
                          f"{settings.new_conversation_rate_per_minute} a minute.")
    return sends, conversations


class SendLimits:
    """The limits of one container's sends. ``resumed`` says whether the request running resumes an earlier
    attempt's plan (``CreateMessageIdempotencyLayer.resumed``); ``clock`` is now in microseconds since the epoch
    (by default ``epoch_microseconds``, looked up at each request)."""

    def __init__(self, store: LimitStore, settings: SendLimitSettings, *,
                 resumed: Callable[[], bool] = lambda: False,
                 clock: Callable[[], int] | None = None) -> None:
        self._store = store
        self.sends, self.new_conversations = limits_of(settings)
        self._resumed = resumed
        self._clock = clock

    def admit(self, sender: User, request_token: str, *, new_conversation: bool = False) -> None:
        """Counts the send against the sender's limits, or raises RateLimited (429, nothing counted).
        ``request_token`` names the request (its planned message uuid): the same request is counted once."""
        if self._resumed():
            logger.info("a resumed send is not counted again: its first attempt was")
            return
        now_us = (self._clock or epoch_microseconds)()
        if not new_conversation:
            self._take(sender, self.sends, request_token, now_us)
            return
        self._take(sender, self.new_conversations, request_token, now_us)
        try:
            self._take(sender, self.sends, request_token, now_us)
        except RateLimited:
            self._store.give_back(sender.uuid, NEW_CONVERSATION, interval_us=self.new_conversations.interval_us,
                                  writer=request_token)
            raise

    def _take(self, sender: User, limit: Limit, token: str, now_us: int) -> None:
        found: Spent | None = self._store.start_afresh(sender.uuid, limit.action, now_us=now_us,
                                                       interval_us=limit.interval_us, writer=token)
        for _ in range(MAX_UPDATES - 1):
            if found is None or found.writer == token:
                return  # counted now, or already (our own update's resend, or this request checked before)
            if found.tat_us is None or found.tat_us <= now_us:
                found = self._store.start_afresh(sender.uuid, limit.action, now_us=now_us,
                                                 interval_us=limit.interval_us, writer=token)
                continue
            wait_us = found.tat_us + limit.interval_us - limit.tolerance_us - now_us
            if wait_us > 0:
                retry_after = -(-wait_us // MICROSECONDS)
                logger.info("send refused: over the sender's limit",
                            extra={"limit": limit.action, "retry_after_seconds": retry_after})
                raise RateLimited(f"{limit.described} Retry in {retry_after} s.", retry_after_seconds=retry_after)
            found = self._store.add_interval(sender.uuid, limit.action, now_us=now_us,
                                             interval_us=limit.interval_us,
                                             ceiling_us=now_us + limit.tolerance_us - limit.interval_us, writer=token)
        if found is None or found.writer == token:
            return
        raise DependencyUnavailable("The message store is busy; please retry.")

"""schemathesis hooks of test_api_fuzz.py (loaded through SCHEMATHESIS_HOOKS)."""
from __future__ import annotations

import re
import uuid
from typing import Any

import schemathesis

from cruddur_messaging.domain.create_message import IDEMPOTENCY_KEY_MAX_LENGTH
from cruddur_messaging.http.contract import PRINTABLE_HEADER_PATTERN

IDEMPOTENCY_KEY = "Idempotency-Key"
UNIQUE_SUFFIX_LENGTH = 33


@schemathesis.hook.apply_to(method="POST", path="/api/messages")
@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    """Makes every well-formed generated Idempotency-Key unique.

    Whether a key is accepted depends on whether it was used before with another body (422
    idempotency_key_reused), which no schema can say, behind API Gateway as here; the generator reuses short keys
    ("0") across bodies. Malformed keys are left as they are (their 400 is still checked), and retries with the
    same key are tested in tests/integration/test_idempotency.py.
    """
    key = (case.headers or {}).get(IDEMPOTENCY_KEY)
    if key is not None and len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH and re.fullmatch(PRINTABLE_HEADER_PATTERN, key):
        prefix = key[:IDEMPOTENCY_KEY_MAX_LENGTH - UNIQUE_SUFFIX_LENGTH]
        case.headers[IDEMPOTENCY_KEY] = f"{prefix}-{uuid.uuid4().hex}"

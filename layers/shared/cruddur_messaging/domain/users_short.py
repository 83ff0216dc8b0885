"""A user's public card by handle; the frontend sends the handle with a leading ``@``."""
from __future__ import annotations

from cruddur_messaging.data.users import user_repository
from cruddur_messaging.domain.validation import normalize_handle
from cruddur_messaging.errors import NotFound
from cruddur_messaging.models import UserShort


def find_user_short(raw_handle: str | None) -> UserShort:
    handle = normalize_handle(raw_handle)
    user = user_repository().find_by_handle(handle)
    if user is None:
        raise NotFound(f"No user with the handle @{handle}.", code="user_not_found")
    return UserShort.of(user)

"""The seed users of db/seed.sql as tests need them, and strangers who exist only in old DynamoDB data."""
from __future__ import annotations

import uuid as uuid_module
from dataclasses import dataclass

from cruddur_messaging.models import User
from tests.support.events import SEED_COGNITO_IDS, SEED_USER_UUIDS

UNKNOWN_COGNITO_USER_ID = "5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4eff"


@dataclass(frozen=True)
class Person:
    handle: str
    display_name: str
    uuid: str
    cognito_user_id: str | None = None

    @property
    def user(self) -> User:
        """The person as the data layer's stores take a sender or recipient."""
        return User(uuid=self.uuid, handle=self.handle, display_name=self.display_name)


def seed_person(handle: str, display_name: str) -> Person:
    return Person(handle, display_name, SEED_USER_UUIDS[handle], SEED_COGNITO_IDS[handle])


def stranger(number: int) -> Person:
    """Someone a conversation row can name without a PostgreSQL row (list-groups never looks them up)."""
    return Person(f"stranger{number}", f"Stranger {number}", str(uuid_module.UUID(int=number, version=4)))


ANDREW = seed_person("andrewbrown", "Andrew Brown")
BAYKO = seed_person("bayko", "Andrew Bayko")
LONDO = seed_person("londo", "Londo Mollari")

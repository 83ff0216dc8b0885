"""The seed users of db/seed.sql as tests need them, and strangers who exist only in old DynamoDB data."""
from __future__ import annotations

import uuid as uuid_module

from cruddur_messaging.models import User
from tests.support.events import SEED_COGNITO_IDS, SEED_USER_UUIDS

UNKNOWN_COGNITO_USER_ID = "5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4eff"


class Person(User):
    """A user as the tests name one: the layer's ``User``, with its Cognito id where it has one."""

    @property
    def user(self) -> User:
        """The person as the data layer's stores take a sender or recipient."""
        return User(uuid=self.uuid, handle=self.handle, display_name=self.display_name)


def seed_person(handle: str, display_name: str) -> Person:
    return Person(uuid=SEED_USER_UUIDS[handle], handle=handle, display_name=display_name,
                  cognito_user_id=SEED_COGNITO_IDS[handle])


def stranger(number: int) -> Person:
    """Someone a conversation row can name without a PostgreSQL row (list-groups never looks them up)."""
    return Person(uuid=str(uuid_module.UUID(int=number, version=4)), handle=f"stranger{number}",
                  display_name=f"Stranger {number}")


ANDREW = seed_person("andrewbrown", "Andrew Brown")
BAYKO = seed_person("bayko", "Andrew Bayko")
LONDO = seed_person("londo", "Londo Mollari")

"""Smoke's sign-in against a Cognito pool (moto in-process): tokens, the challenge a user with a temporary
password gets, and where a handle comes from; the forged token it tries the API with."""
from __future__ import annotations

import base64
import json
from typing import Iterator

import boto3
import pytest
from moto import mock_aws

from devtools.smoke.clients import CheckFailed, jwt_claims, sign_in, tampered
from devtools.smoke.target import SmokeTarget, SmokeUser

REGION = "us-east-1"
PASSWORD = "Smoke-check-1"


@pytest.fixture
def pool() -> Iterator[tuple[object, str, str]]:
    with mock_aws():
        cognito = boto3.client("cognito-idp", region_name=REGION, aws_access_key_id="testing",
                               aws_secret_access_key="testing")
        pool_id = cognito.create_user_pool(PoolName="smoke", UsernameAttributes=["email"])["UserPool"]["Id"]
        client_id = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="frontend",
                                                    ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"],
                                                    )["UserPoolClient"]["ClientId"]
        yield cognito, pool_id, client_id


def target_of(client_id: str) -> SmokeTarget:
    return SmokeTarget(description="moto", api_url="http://unused", websocket_url="ws://unused", region=REGION,
                       cognito_endpoint_url=None, user_pool_client_id=client_id, users={})


def add_user(cognito, pool_id: str, email: str, permanent: bool) -> None:
    cognito.admin_create_user(UserPoolId=pool_id, Username=email, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": email}])
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=PASSWORD, Permanent=permanent)


def test_a_user_with_a_permanent_password_gets_an_access_token(pool) -> None:
    cognito, pool_id, client_id = pool
    add_user(cognito, pool_id, "a@example.com", permanent=True)
    signed_in = sign_in(target_of(client_id), SmokeUser("sender", "a@example.com", PASSWORD, "alice"))
    assert signed_in.handle == "alice"
    assert jwt_claims(signed_in.access_token)["token_use"] == "access"


def test_a_temporary_password_is_a_challenge_smoke_names(pool) -> None:
    cognito, pool_id, client_id = pool
    add_user(cognito, pool_id, "b@example.com", permanent=False)
    with pytest.raises(CheckFailed, match="recipient b@example.com: Cognito answered the challenge "
                                          "NEW_PASSWORD_REQUIRED"):
        sign_in(target_of(client_id), SmokeUser("recipient", "b@example.com", PASSWORD, "bee"))


def test_a_wrong_password_names_the_user_and_cognitos_error(pool) -> None:
    cognito, pool_id, client_id = pool
    add_user(cognito, pool_id, "c@example.com", permanent=True)
    with pytest.raises(CheckFailed, match="stranger c@example.com: .*NotAuthorizedException"):
        sign_in(target_of(client_id), SmokeUser("stranger", "c@example.com", "Wrong-password-1", "cee"))


def test_without_a_handle_or_preferred_username_smoke_asks_for_one(pool) -> None:
    cognito, pool_id, client_id = pool
    add_user(cognito, pool_id, "d@example.com", permanent=True)
    with pytest.raises(CheckFailed, match="has no preferred_username: set SMOKE_HANDLE_B"):
        sign_in(target_of(client_id), SmokeUser("recipient", "d@example.com", PASSWORD, None))


def encoded(part: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")


def test_claims_are_read_from_an_unpadded_payload() -> None:
    token = ".".join((encoded({"alg": "RS256"}), encoded({"preferred_username": "londo", "n": "x" * 7}), "sig"))
    assert jwt_claims(token) == {"preferred_username": "londo", "n": "x" * 7}


def test_a_tampered_token_keeps_header_and_payload_and_changes_one_signature_character() -> None:
    for signature in ("abcdefghij", "AAAAAAAAAA"):
        token = f"head.body.{signature}"
        forged = tampered(token)
        head, body, forged_signature = forged.split(".")
        assert (head, body) == ("head", "body")
        assert len(forged_signature) == len(signature)
        assert sum(a != b for a, b in zip(signature, forged_signature)) == 1

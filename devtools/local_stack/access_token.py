"""``make token USER=<handle>``: prints a Cognito access token of a local user, for curl and the like.

Signs in the way the frontend does (``InitiateAuth`` with ``USER_PASSWORD_AUTH``) against the running stack's
pool (``.local/stack.json``); the token is good for an hour.
"""
from __future__ import annotations

import argparse
import sys

import boto3
from botocore import UNSIGNED
from botocore.config import Config

from devtools.local_stack.cognito import access_token
from devtools.local_stack.settings import stack_file_path
from devtools.local_stack.stack_file import read_stack_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make token", description=__doc__)
    parser.add_argument("handle", help="a local user's handle (andrewbrown, bayko, londo...)")
    arguments = parser.parse_args(sys.argv[1:] if argv is None else argv)
    info = read_stack_file(stack_file_path())
    try:
        user = info.user(arguments.handle.removeprefix("@"))
    except LookupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # InitiateAuth is an unsigned call: no credentials needed.
    cognito = boto3.client("cognito-idp", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                           config=Config(signature_version=UNSIGNED))
    print(access_token(cognito, info.user_pool_client_id, user.username, user.password))
    return 0


if __name__ == "__main__":
    sys.exit(main())

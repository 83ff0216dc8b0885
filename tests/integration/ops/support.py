"""The stand-in stack the ops tests run the scripts against (see conftest.py), and its constants."""
from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

import boto3
import pytest

from devtools.environment import LocalResources, template_context
from devtools.ops.__main__ import COMMANDS
from devtools.ops.cli import LOG_FORMAT, Command, run
from devtools.ops.ddb_seed import load_conversation
from devtools.template import REPO_ROOT, load_template, parameter_defaults, table_definition

REGION = "us-east-1"
# A fixed zone without daylight saving, spelled the POSIX way so that no tz database is needed: UTC+9.
LOCAL_TZ = "JST-9"
SEED_GROUP = load_conversation().message_group_uuid
GROUP_INDEX = parameter_defaults(load_template())["MessageGroupIndexName"]
"""The index the template names by default."""
ANDREW = "8d1b9c3e-2f4a-4b6c-9d7e-0a1b2c3d4e01"
BAYKO = "8d1b9c3e-2f4a-4b6c-9d7e-0a1b2c3d4e02"
LONDO = "8d1b9c3e-2f4a-4b6c-9d7e-0a1b2c3d4e03"
# A conversation written by the tutorial's scripts in 2019: local offsets, microseconds only when non-zero.
OLD_GROUP = "0b7d8a52-3f7e-4c1a-9d55-2f0c4c0e2019"
OLD_MESSAGES = (("2019-03-20T10:00:00-04:00", "andrewbrown", "Is anybody out there?"),
                ("2019-03-20T10:01:30.250000-04:00", "londo", "Only the Centauri, as usual."))
# londo's conversations, newest first; the last one is from 2019.
LONDO_ROWS = (("2026-01-05T10:00:00.000000+00:00", "g5"), ("2025-12-31T23:59:59.999999+00:00", "g4"),
              ("2025-06-01T08:00:00.000000+00:00", "g3"), ("2024-02-29T12:00:00.000000+00:00", "g2"),
              ("2019-03-20T14:01:30.250000+00:00", OLD_GROUP))
COGNITO_USERS = (("andrew", "andrewbrown"), ("bayko-login", "bayko"), ("no-handle", None))
CLIENT_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def subprocess_environment() -> dict[str, str]:
    """The caller's environment without anything that could send a script to a real AWS account."""
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith("AWS_") and name not in {"TABLE_NAME", "DATABASE_URL",
                                                                   "DATABASE_URL_PARAMETER", "COGNITO_USER_POOL_ID",
                                                                   "MESSAGE_GROUP_INDEX_NAME"}}
    environment["TZ"] = LOCAL_TZ
    environment["AWS_CONFIG_FILE"] = os.devnull
    environment["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return environment


@dataclass(frozen=True)
class Outcome:
    """A command run in-process: the subprocess runs prove the entry points, these cover the variations fast."""

    returncode: int
    stdout: str
    stderr: str


def command(name: str) -> Command:
    module, attribute = COMMANDS[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def run_in_process(capsys: pytest.CaptureFixture[str], name: str, *args: str,
                   environ: Mapping[str, str]) -> Outcome:
    """``bin/<name> args`` as ``devtools.ops.__main__`` runs it, in this process: warnings reach stderr in the
    entry point's format (``configure_logging``), through a handler that leaves with the call."""
    capsys.readouterr()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.WARNING)
    logging.getLogger().addHandler(handler)
    try:
        returncode = run(command(name), list(args), environ=dict(environ))
    finally:
        logging.getLogger().removeHandler(handler)
    captured = capsys.readouterr()
    return Outcome(returncode, captured.out, captured.err)


def use_script_environment(monkeypatch: pytest.MonkeyPatch, variables: Mapping[str, str]) -> None:
    """This process's environment as :func:`subprocess_environment` gives a script, plus ``variables``: boto3 and
    the prod target read ``os.environ`` (the zone stays the process's: see ``in_jst`` where times are checked)."""
    wanted = {name: value for name, value in subprocess_environment().items() if name != "TZ"}
    wanted.update(variables)
    for name in list(os.environ):
        if name not in wanted and name != "TZ":
            monkeypatch.delenv(name)
    for name, value in wanted.items():
        monkeypatch.setenv(name, value)


def database_url_for(base_url: str, database: str) -> str:
    return urlsplit(base_url)._replace(path=f"/{database}").geturl()


@dataclass
class Stack:
    directory: Path
    endpoint: str
    table_name: str
    user_pool_id: str
    database_url: str
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def stack_file(self) -> Path:
        return self.directory / ".local" / "stack.json"

    def run(self, command: str, *args: str, env: dict[str, str] | None = None,
            stdin: Any = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
        """Runs ``bin/<command>`` as an operator would, against this stack."""
        return subprocess.run([str(REPO_ROOT / "bin" / command), *args], env={**self.environment, **(env or {})},
                              stdin=stdin, capture_output=True, text=True, timeout=60)

    def call(self, capsys: pytest.CaptureFixture[str], name: str, *args: str) -> Outcome:
        """Runs the command in this process against this stack (times print in the test process's zone)."""
        return run_in_process(capsys, name, *args, environ={"CRUDDUR_STACK_FILE": str(self.stack_file)})

    def call_in_prod(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str,
                     *args: str, **variables: str) -> Outcome:
        """Runs ``name args prod`` in this process with :meth:`prod_environment` (plus ``variables``) as the
        operator's environment."""
        use_script_environment(monkeypatch, self.prod_environment(**variables))
        return run_in_process(capsys, name, *args, "prod", environ=os.environ)

    def prod_environment(self, **variables: str) -> dict[str, str]:
        """What an operator's shell has for ``prod``, with AWS_ENDPOINT_URL standing in for AWS itself."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", **variables}

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION, **CLIENT_CREDENTIALS)

    def table(self) -> Any:
        resource = boto3.resource("dynamodb", endpoint_url=self.endpoint, region_name=REGION, **CLIENT_CREDENTIALS)
        return resource.Table(self.table_name)

    def create_table(self) -> Any:
        template = load_template()
        definition = table_definition(template, template_context(LocalResources(table_name=self.table_name),
                                                                 template))
        self.client("dynamodb").create_table(**definition)
        return self.table()

    def deploy(self, stack_name: str, **parameters: str) -> str:
        """Creates ``stack_name`` in moto's CloudFormation from template.yaml's table, the parameters the operator
        scripts read and the table's output (moto cannot run the SAM transform, so no function), with
        ``CognitoUserPoolId`` this stack's pool unless given. Returns the table's name, as the output says."""
        template = load_template()
        names = ("TableName", "MessageGroupIndexName", "RowVersionIndexName", "CognitoUserPoolId",
                 "DatabaseUrlParameterName")
        body = {
            "Parameters": {name: template["Parameters"][name] for name in names},
            "Conditions": {"HasTableName": template["Conditions"]["HasTableName"]},
            "Resources": {"MessagesTable": template["Resources"]["MessagesTable"]},
            "Outputs": {"MessagesTableName": template["Outputs"]["MessagesTableName"]},
        }
        values = {"CognitoUserPoolId": self.user_pool_id, **parameters}
        cloudformation = self.client("cloudformation")
        cloudformation.create_stack(StackName=stack_name, TemplateBody=json.dumps(body), Parameters=[
            {"ParameterKey": name, "ParameterValue": value} for name, value in values.items()])
        [output] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["Outputs"]
        return output["OutputValue"]

    @staticmethod
    def error_line(result: subprocess.CompletedProcess[str] | Outcome, command: str) -> str:
        """The message of a failed run, checking the convention: exit 1, one line on stderr, no traceback."""
        assert result.returncode == 1, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        prefix = f"bin/{command}: error: "
        assert lines[0].startswith(prefix), lines[0]
        return lines[0].removeprefix(prefix)

    def table_names(self) -> list[str]:
        return self.client("dynamodb").list_tables()["TableNames"]

    def cognito_subs(self) -> dict[str, str]:
        """handle -> sub of the pool's users that have a handle."""
        subs = {}
        for page in self.client("cognito-idp").get_paginator("list_users").paginate(UserPoolId=self.user_pool_id):
            for user in page["Users"]:
                attributes = {attribute["Name"]: attribute["Value"] for attribute in user["Attributes"]}
                if "preferred_username" in attributes:
                    subs[attributes["preferred_username"]] = attributes["sub"]
        return subs

"""``make dev`` as a process of its own on free ports, for the end-to-end tests and the delivery benchmark.

Every port comes from the OS (the suite runs next to other engineers' stacks), the state lives in ``data_dir``,
and leaving the context sends SIGTERM, after which the stack stops everything it started.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import boto3
import psutil

from devtools.local_stack.stack_file import StackInfo, read_stack_file
from devtools.template import REPO_ROOT

READY_TIMEOUT_SECONDS = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningStack:
    process: subprocess.Popen[bytes]
    info: StackInfo
    data_dir: Path
    stdout: Path
    stderr: Path
    environment: dict[str, str]
    """The variables it was started with (its ``CRUDDUR_*`` ports among them)."""

    def logs(self) -> str:
        return f"--- stdout\n{self.stdout.read_text()}\n--- stderr (tail)\n{self.stderr.read_text()[-6000:]}"

    def function_workers(self) -> dict[int, str]:
        """pid -> function name of every execution environment the stack runs now."""
        workers = {}
        for child in psutil.Process(self.process.pid).children(recursive=True):
            try:
                if "devtools.lambda_runtime" in child.cmdline():
                    workers[child.pid] = child.environ()["AWS_LAMBDA_FUNCTION_NAME"]
            except psutil.NoSuchProcess:
                continue
        return workers

    def access_token(self, handle: str) -> str:
        """A Cognito access token of a local user (InitiateAuth, USER_PASSWORD_AUTH)."""
        user = self.info.user(handle)
        cognito = boto3.client("cognito-idp", endpoint_url=self.info.aws_endpoint_url, region_name=self.info.region,
                               aws_access_key_id="testing", aws_secret_access_key="testing")
        return cognito.initiate_auth(ClientId=self.info.user_pool_client_id, AuthFlow="USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": user.username, "PASSWORD": user.password},
                                     )["AuthenticationResult"]["AccessToken"]


@contextmanager
def running_stack(data_dir: Path, ready_timeout_seconds: float = READY_TIMEOUT_SECONDS,
                  variables: Mapping[str, str] | None = None) -> Iterator[RunningStack]:
    """Starts ``python -m devtools.local_stack`` with ``variables`` (e.g. ``CRUDDUR_MAX_ENVIRONMENTS``) added."""
    stdout, stderr = data_dir / "stdout.log", data_dir / "stderr.log"
    environment = {name: value for name, value in os.environ.items() if not name.startswith("CRUDDUR_")}
    environment.update(variables or {})
    environment.update(CRUDDUR_AWS_PORT=str(free_port()), CRUDDUR_API_PORT=str(free_port()),
                       CRUDDUR_WS_PORT=str(free_port()), CRUDDUR_WS_MANAGEMENT_PORT=str(free_port()),
                       CRUDDUR_LOCAL_DIR=str(data_dir))
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen([sys.executable, "-m", "devtools.local_stack"], cwd=REPO_ROOT, env=environment,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + ready_timeout_seconds
        while not stdout.read_text().startswith("ready"):
            if process.poll() is not None:
                raise RuntimeError(f"the stack exited with {process.returncode}\n{stderr.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no ready line in {ready_timeout_seconds}s\n{stderr.read_text()}")
            time.sleep(0.1)
        yield RunningStack(process, read_stack_file(data_dir / "stack.json"), data_dir, stdout, stderr, environment)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()  # a stack that ignores SIGTERM is a failure, not a process to leave behind
                process.wait()
                raise

"""``make dev`` as a process of its own for tests: free ports, a temporary data directory, the ``ready`` line."""
from __future__ import annotations

import os
import signal
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
class StackProcess:
    process: subprocess.Popen[bytes]
    info: StackInfo
    data_dir: Path
    stdout: Path
    stderr: Path

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
        user = self.info.user(handle)
        cognito = boto3.client("cognito-idp", endpoint_url=self.info.aws_endpoint_url, region_name=self.info.region,
                               aws_access_key_id="testing", aws_secret_access_key="testing")
        return cognito.initiate_auth(ClientId=self.info.user_pool_client_id, AuthFlow="USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": user.username, "PASSWORD": user.password},
                                     )["AuthenticationResult"]["AccessToken"]


@contextmanager
def running_stack(data_dir: Path, environment: Mapping[str, str] = {}) -> Iterator[StackProcess]:
    """Starts ``python -m devtools.local_stack`` (what ``make dev`` runs) and stops it with SIGTERM afterwards."""
    stdout, stderr = data_dir / "stdout.log", data_dir / "stderr.log"
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("CRUDDUR_")}
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.local_stack", "--aws-port", str(free_port()),
             "--api-port", str(free_port()), "--data-dir", str(data_dir)],
            cwd=REPO_ROOT, env={**inherited, **environment}, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not stdout.read_text().startswith("ready"):
            assert process.poll() is None, f"the stack exited with {process.returncode}\n{stderr.read_text()}"
            assert time.monotonic() < deadline, f"no ready line in {READY_TIMEOUT_SECONDS}s\n{stderr.read_text()}"
            time.sleep(0.1)
        yield StackProcess(process, read_stack_file(data_dir / "stack.json"), data_dir, stdout, stderr)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)

"""The local AWS endpoint: one moto server process for DynamoDB, DynamoDB Streams, Cognito, SQS, SSM and
Secrets Manager.

It runs as a child process (not a thread) so that its request handling does not compete with the functions for
this process's GIL, through ``moto_launcher``: DynamoDB requests one at a time, transactions that copy only what
they touch, and with a ``state_dir`` the DynamoDB items and Cognito users kept there across restarts.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from devtools.template import REPO_ROOT

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_SECONDS = 20.0
# Stable Cognito ids: the same pool and client ids on every start, so a frontend's configuration keeps working.
_MOTO_ENVIRONMENT = {
    "MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY": "HASH",
    "MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY": "HASH",
}
_PR_SET_PDEATHSIG = 1


class PortInUse(RuntimeError):
    pass


def ensure_port_free(host: str, port: int, variable: str) -> None:
    """Fails with a message that names the variable to move the port, before anything is started."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortInUse(f"port {port} on {host} is in use ({error.strerror}): stop what listens there (is "
                            f"another `make dev` running?) or choose another port with {variable}=<port>") from error


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends it SIGTERM if the stack dies without cleaning up."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class MotoServer:
    def __init__(self, host: str, port: int, log_file: Path, state_dir: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.log_file = log_file
        self.state_dir = state_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "MotoServer":
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "devtools.local_stack.moto_launcher", "-H", self.host, "-p", str(self.port)]
        if self.state_dir is not None:
            command += ["--state-dir", str(self.state_dir)]
        with open(self.log_file, "ab") as output:
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                env={**os.environ, **_MOTO_ENVIRONMENT},
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the moto server exited with code {self.process.returncode}; see {self.log_file}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                log.info("moto server (pid %d) listening on %s", self.process.pid, self.url)
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the moto server did not listen on {self.url} within {STARTUP_TIMEOUT_SECONDS:.0f}s; "
                           f"see {self.log_file}")

    def stop(self, timeout: float = 5.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("the moto server did not stop within %.0fs, killing it", timeout)
            self.process.kill()
            self.process.wait()

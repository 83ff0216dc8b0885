"""``make clean``'s part for the local stack: deletes its state directory (``.local``, or ``$CRUDDUR_LOCAL_DIR``):
PostgreSQL's data, moto's DynamoDB items, stream records and Cognito users, the stream checkpoints, logs.

Refuses while a ``make dev`` still answers on that directory's ports (stop it first), and stops a PostgreSQL
that a killed ``make dev`` left running there, which would otherwise keep running on deleted files.
"""
from __future__ import annotations

import logging
import shutil
import signal
import socket
import sys
from urllib.parse import urlparse

import psutil

from devtools.local_stack.database import postmaster_pid
from devtools.local_stack.settings import StackSettings, configure_logging
from devtools.local_stack.stack_file import read_stack_file

log = logging.getLogger(__name__)
STOP_TIMEOUT_SECONDS = 15


def _answers(url: str) -> bool:
    address = urlparse(url)
    try:
        socket.create_connection((address.hostname, address.port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _stop_orphaned_postgres(settings: StackSettings) -> None:
    pid = postmaster_pid(settings.postgres_dir)
    if pid is None or not psutil.pid_exists(pid):
        return
    postmaster = psutil.Process(pid)
    if "postgres" not in postmaster.name():
        return
    log.info("stopping the PostgreSQL (pid %d) a stopped stack left running", pid)
    postmaster.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
    try:
        postmaster.wait(STOP_TIMEOUT_SECONDS)
    except psutil.TimeoutExpired:
        postmaster.kill()


def main() -> int:
    configure_logging()
    settings = StackSettings.from_environment()
    if settings.stack_file.exists():
        info = read_stack_file(settings.stack_file)
        if _answers(info.api_url) or _answers(info.aws_endpoint_url):
            print(f"error: a local stack is running on {settings.data_dir} ({info.api_url}); stop `make dev` first",
                  file=sys.stderr)
            return 1
    _stop_orphaned_postgres(settings)
    if settings.data_dir.exists():
        shutil.rmtree(settings.data_dir)
        log.info("removed %s", settings.data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

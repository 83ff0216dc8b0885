"""``make load``: a bounded load and correctness run against a running ``make dev``.

Signs in as the local users (Cognito ``InitiateAuth``, ``USER_PASSWORD_AUTH``), runs ``--clients`` concurrent
clients for ``--seconds`` with the frontend's mix (``bench.load_traffic``), prints throughput and p50/p95/p99 per
route, then checks from DynamoDB that nothing was lost, duplicated or leaked and that every group's rows converged
(``bench.load_checks``). With ``--kill-every SECONDS`` it also SIGKILLs a busy CreateMessageFunction execution
environment of the stack at that interval (``bench.load_faults``) and the clients retry what the kills cut off, as
real clients do; the checks stay the same. Exits 1 when a check fails, 2 when no stack answers. Talks only to the
loopback addresses of the stack file (``.local/stack.json``, ``$CRUDDUR_LOCAL_DIR/stack.json`` or
``$CRUDDUR_STACK_FILE``). A benchmark, not a test; ``tests/integration/local_stack/test_load.py`` runs a short one
in ``make test``.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import math
import os
import random
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from bench.load_checks import (
    Findings,
    GroupMembers,
    RowWatcher,
    TableReader,
    check_convergence,
    check_pairs,
    check_responses,
    check_sends,
    ground_truth,
    is_rate_limited,
    measure_lags,
)
from bench.load_faults import SEND_FUNCTION, WorkerKiller, function_timeout_seconds
from bench.load_traffic import (
    ABANDONED,
    REFUSED,
    ROUTES,
    Directory,
    Exchange,
    LoadClient,
    Recorder,
    Send,
    statuses_by_route,
)
from devtools.local_stack.cognito import access_token
from devtools.local_stack.stack_file import StackInfo
from devtools.ops.target import stack_file

DEFAULT_CLIENTS = 16
DEFAULT_SECONDS = 30.0
DEFAULT_CONVERGE_SECONDS = 30.0
MAX_CLIENTS = 64
MAX_SECONDS = 600.0
MIN_KILL_EVERY_SECONDS = 0.5
LOOPBACK_NAMES = {"localhost"}


@dataclass
class LoadResult:
    clients: int
    seconds: float
    elapsed: float
    run_id: str
    exchanges: list[Exchange]
    sends: list[Send]
    findings: Findings
    unexpected: list[Exchange]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    items_before: int
    kill_every: float | None = None
    kills: int = 0
    kill_misses: int = 0  # intervals in which no send worker was busy
    failed_attempts: int = 0  # sends answered 5xx or not at all, each retried with the same key
    fault_answers: list[Exchange] = field(default_factory=list)

    @property
    def cut_off(self) -> list[Send]:
        """Sends whose last answer was a fault's: not retried to settlement (a 5xx is excused only when retried)."""
        return [send for send in self.sends
                if self.kill_every and send.exchanges and is_fault_answer(send.exchanges[-1])]

    @property
    def passed(self) -> bool:
        return self.findings.passed and not self.unexpected and not self.cut_off


def read_stack(path: Path) -> StackInfo:
    """The stack file; keys this tool does not know (a newer stack's) are ignored."""
    if not path.exists():
        raise SystemExit(f"{path} not found: start the local stack first (make dev)")
    data = json.loads(path.read_text())
    known = {field.name for field in fields(StackInfo)}
    return StackInfo.from_json({key: value for key, value in data.items() if key in known})


def require_loopback(*urls: str) -> None:
    for url in urls:
        host = urlsplit(url).hostname or ""
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host in LOOPBACK_NAMES
        if not loopback:
            raise SystemExit(f"make load only runs against a local stack; {url} is not a loopback address")


def sign_in(info: StackInfo) -> dict[str, str]:
    """An access token per local user, as the frontend signs in (InitiateAuth is unsigned: no credentials)."""
    cognito = boto3.client("cognito-idp", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                           config=Config(signature_version=UNSIGNED))
    return {user.handle: access_token(cognito, info.user_pool_client_id, user.username, user.password)
            for user in info.users}


def run_load(info: StackInfo, *, clients: int = DEFAULT_CLIENTS, seconds: float = DEFAULT_SECONDS,
             converge_seconds: float = DEFAULT_CONVERGE_SECONDS, seed: int | None = None,
             kill_every: float | None = None) -> LoadResult:
    """The load, then every check; importable for the tests. ``kill_every``: seconds between kills of a busy
    CreateMessageFunction execution environment (none when None)."""
    require_loopback(info.api_url, info.aws_endpoint_url)
    tokens = sign_in(info)
    reader = TableReader(info)
    members = GroupMembers(reader, info.users)
    directory = Directory({})
    seeded = members.handles(info.seed_message_group_uuid)
    if len(seeded) == 2:
        directory.add(info.seed_message_group_uuid, frozenset(seeded))
    items_before = reader.count()
    run_id = secrets.token_hex(3)
    tag = f"load {run_id} "  # in every text the run sends
    since = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat(timespec="microseconds")
    watcher = RowWatcher(info, [user.uuid for user in info.users])
    watcher.start()

    load_before = os.getloadavg()
    recorder = Recorder()
    rng = random.Random(seed)
    started = time.monotonic()
    killer = (WorkerKiller(info.aws_endpoint_url, kill_every, started + seconds, random.Random(rng.random()))
              if kill_every else None)
    if killer:
        killer.start()
    try:
        _drive(info, tokens, directory, recorder, run_id, clients, started + seconds, rng, settle_seconds(),
               retry_failures=killer is not None)
    finally:
        if killer:
            killer.stop()
    elapsed = time.monotonic() - started
    load_after = os.getloadavg()

    findings = Findings()
    members.learn(directory.all())
    written = {send.group: members.uuids(send.group) for send in recorder.sends
               if send.response is not None and not send.must_be_refused and send.group}
    check_convergence(reader, written, time.monotonic() + converge_seconds, findings)
    watcher.stop()
    measure_lags(recorder.sends, written, watcher, findings)
    check_sends(recorder.sends, reader.messages_of_run(tag, since), tag, findings)
    check_pairs(recorder.sends, findings)
    check_responses(recorder.exchanges, recorder.sends, ground_truth(reader, members, info, recorder), findings)
    faulted = killer is not None
    return LoadResult(clients, seconds, elapsed, run_id, recorder.exchanges, recorder.sends, findings,
                      unexpected_statuses(recorder.exchanges, faulted), load_before, load_after, items_before,
                      kill_every, killer.kills if killer else 0, killer.misses if killer else 0,
                      recorder.failed_attempts, [exchange for exchange in recorder.exchanges
                                                 if faulted and is_fault_answer(exchange)])


def settle_seconds() -> float:
    """How long a client retries a send before calling it unsettled: a send cut off after its in-progress record
    was written is answered 409 until that record's lock expires, which is the send function's ``Timeout``
    (``data/idempotency.py``), and the retry that takes over then runs for up to that ``Timeout`` again."""
    return 2.0 * function_timeout_seconds(SEND_FUNCTION)


def _drive(info: StackInfo, tokens: dict[str, str], directory: Directory, recorder: Recorder, run_id: str,
           clients: int, deadline: float, rng: random.Random, settle: float, *, retry_failures: bool) -> None:
    """Runs the clients, one thread each, the users taken in turn, until the deadline."""
    threads = []
    for number in range(clients):
        user = info.users[number % len(info.users)]
        client = LoadClient(number=number, run_id=run_id, api_url=info.api_url, user=user, token=tokens[user.handle],
                            users=info.users, directory=directory, recorder=recorder,
                            rng=random.Random(rng.random()), deadline=deadline, settle_seconds=settle,
                            retry_failures=retry_failures)
        threads.append(threading.Thread(name=f"load-client-{number}", target=client.run))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def unexpected_statuses(exchanges: list[Exchange], faulted: bool = False) -> list[Exchange]:
    """Answers a valid request must not get: anything but a 200, except a 409 or 503 with ``Retry-After`` (the
    contract's "try again"), a send's 429 ``rate_limited`` with ``Retry-After`` (its sender's limit: the run's
    clients share three users, so a few of them send faster than one user may) and, when the run killed send
    workers (``faulted``), a send's 5xx or missing answer (:func:`is_fault_answer`: every one was retried, and a
    send that never settled fails ``check_sends``). Refused sends are judged by ``check_sends``; an unawaited answer
    is not seen."""
    unexpected = []
    for exchange in exchanges:
        if exchange.route in (REFUSED, ABANDONED) or exchange.status == 200:
            continue
        if exchange.status in (409, 503) and exchange.retry_after and exchange.method == "POST":
            continue
        if exchange.method == "POST" and is_rate_limited(exchange):
            continue
        if faulted and is_fault_answer(exchange):
            continue
        unexpected.append(exchange)
    return unexpected


def is_fault_answer(exchange: Exchange) -> bool:
    """What a send whose execution environment was killed gets: API Gateway's 5xx, or no answer at all (a send
    whose answer the client chose not to await is not one)."""
    return exchange.method == "POST" and exchange.route != ABANDONED and (
        exchange.status is None or exchange.status >= 500)


def percentile(values: list[float], share: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share / 100 * len(ordered)) - 1)] if ordered else float("nan")


def _milliseconds(values: list[float]) -> list[str]:
    return [f"{percentile(values, share) * 1000:.0f}" if values else "-" for share in (50, 95, 99)]


def report(result: LoadResult, out: TextIO = sys.stdout) -> None:
    write = lambda line="": print(line, file=out)  # noqa: E731
    statuses = statuses_by_route(result.exchanges)
    write(f"make load: {result.clients} clients for {result.elapsed:.1f} s (run {result.run_id}), "
          f"{result.items_before} items in the table before; load average {_load(result.load_before)} before, "
          f"{_load(result.load_after)} after ({os.cpu_count()} cores)")
    rows = [("route", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "statuses")]
    timed = [exchange for exchange in result.exchanges if exchange.status is not None and exchange.route != ABANDONED]
    for route in ROUTES:
        seen = [exchange for exchange in result.exchanges if exchange.route == route]
        if not seen:
            continue
        latencies = [exchange.seconds for exchange in seen if exchange.status is not None]
        rows.append((route, str(len(seen)), f"{len(seen) / result.elapsed:.1f}", *_milliseconds(latencies),
                     " ".join(f"{status}x{count}" for status, count in sorted(statuses[route].items()))))
    rows.append(("all", str(len(timed)), f"{len(timed) / result.elapsed:.1f}",
                 *_milliseconds([exchange.seconds for exchange in timed]), ""))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        write("  ".join(cell.ljust(width) if column in (0, 6) else cell.rjust(width)
                        for column, (cell, width) in enumerate(zip(row, widths))).rstrip())
    write()
    findings = result.findings
    write(f"sends: {findings.sent} answered 200: {findings.lost} lost, {findings.duplicated} duplicated, "
          f"{findings.mismatched} stored otherwise than answered; {findings.retries} retried with the same "
          f"Idempotency-Key: {findings.retries_answered_differently} answered differently, "
          f"{findings.unsettled} never settled")
    write(f"refusals: {findings.refused} refused, {findings.not_refused} accepted or with another status or code, "
          f"{findings.refused_stored} stored; {findings.rate_limited} valid sends over their sender's limit (429 "
          f"rate_limited); {findings.unknown} other valid sends without a 200, "
          f"{findings.unknown_stored_twice} of them stored twice; {findings.stray_items} items never sent")
    write(f"conversation starts: {findings.starts} for {findings.pairs} pairs, "
          f"{findings.pairs_in_several_groups} pairs in more than one group")
    write(f"responses: {findings.responses_checked} checked, {findings.leaked} leaked"
          + "".join(f"; {count} {kind}" for kind, count in findings.leaks.items()))
    lag = (f"p50 {percentile(findings.lags, 50):.2f} s, p95 {percentile(findings.lags, 95):.2f} s"
           if findings.lags else "not measured")
    after = f" {findings.converged_after:.1f} s after the load" if findings.converged_after is not None else ""
    write(f"group rows: {findings.groups_converged}/{findings.groups} groups converged{after}; lag from a send's "
          f"200 to both rows: {lag} ({len(findings.lags)} sends seen, {findings.sends_never_reflected} never"
          + (f", {findings.watch_failures} polls failed)" if findings.watch_failures else ")"))
    if result.kill_every:
        answers = statuses_by_route(result.fault_answers)
        write(f"faults: {result.kills} CreateMessageFunction execution environments killed (SIGKILL, one every "
              f"{result.kill_every:g} s; {result.kill_misses} intervals found none busy); {len(result.fault_answers)} "
              f"sends answered 5xx or not at all, not counted as unexpected"
              + "".join(f"; {route} " + ",".join(f"{status}x{count}" for status, count in sorted(found.items()))
                        for route, found in answers.items())
              + f"; {result.failed_attempts} retried with the same body (and Idempotency-Key), "
              f"{len(result.cut_off)} left without a later answer")
    write(f"statuses: {len(result.unexpected)} unexpected"
          + "".join(f"; {route} {count}" for route, count in _unexpected_by_route(result.unexpected).items()))
    for kind, examples in findings.problems.items():
        for example in examples:
            write(f"  {kind}: {example}")
    for exchange in result.unexpected[:5]:
        write(f"  unexpected: {exchange.caller} {exchange.method} {exchange.path[:100]} -> "
              f"{exchange.status or exchange.error} "
              f"{json.dumps(exchange.body)[:160] if exchange.body else exchange.detail or ''}")
    write()
    write(f"{findings.lost} lost, {findings.duplicated + findings.unknown_stored_twice} duplicated, "
          f"{findings.leaked} leaked, {findings.groups_converged}/{findings.groups} groups converged")
    write("PASS" if result.passed else "FAIL")


def _load(average: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in average)


def _unexpected_by_route(exchanges: list[Exchange]) -> dict[str, str]:
    counts = statuses_by_route(exchanges)
    return {route: ",".join(f"{status}x{count}" for status, count in sorted(found.items()))
            for route, found in counts.items()}


def _bounded(kind: type, low: float, high: float) -> Any:
    def parse(raw: str) -> Any:
        value = kind(raw)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{raw} is not within {low:g}..{high:g}")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=_bounded(int, 1, MAX_CLIENTS), default=DEFAULT_CLIENTS,
                        help=f"concurrent clients (default {DEFAULT_CLIENTS})")
    parser.add_argument("--seconds", type=_bounded(float, 1, MAX_SECONDS), default=DEFAULT_SECONDS,
                        help=f"how long they send requests (default {DEFAULT_SECONDS:g})")
    parser.add_argument("--converge-seconds", type=_bounded(float, 0, MAX_SECONDS),
                        default=DEFAULT_CONVERGE_SECONDS,
                        help=f"how long to wait for the group rows afterwards (default {DEFAULT_CONVERGE_SECONDS:g})")
    parser.add_argument("--seed", type=int, help="seed of the random mix (default: a new one each run)")
    parser.add_argument("--kill-every", type=_bounded(float, MIN_KILL_EVERY_SECONDS, MAX_SECONDS), metavar="SECONDS",
                        help="SIGKILL a busy CreateMessageFunction execution environment of the stack this often; "
                             "clients retry what the kills cut off (default: no kills)")
    arguments = parser.parse_args(sys.argv[1:] if argv is None else argv)
    path, shown = stack_file()
    if not path.exists():
        print(f"error: {shown} not found: start the local stack first (make dev)", file=sys.stderr)
        return 2
    info = read_stack(path)
    try:
        result = run_load(info, clients=arguments.clients, seconds=arguments.seconds,
                          converge_seconds=arguments.converge_seconds, seed=arguments.seed,
                          kill_every=arguments.kill_every)
    except EndpointConnectionError as error:
        print(f"error: {error}: is make dev still running?", file=sys.stderr)
        return 2
    report(result)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())

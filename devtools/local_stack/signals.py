"""Waiting for Ctrl-C or SIGTERM in a process with threads.

Python runs a signal's handler in the main thread, but the kernel delivers a process's signal to any thread that
does not block it. When another thread takes it, the C-level handler only flags it, and a main thread asleep in
``time.sleep`` (or ``signal.pause``) sleeps on: the stack once ignored a SIGTERM for as long as its main thread's
sleep. The wake-up fd (``signal.set_wakeup_fd``) is written by whichever thread took the signal, so a main thread
waiting on it wakes at once and runs the handler.
"""
from __future__ import annotations

import select
import signal
import socket
from typing import NoReturn


def wait_for_signals() -> NoReturn:
    """Blocks the main thread until a signal's handler raises (the handlers decide which signals stop it)."""
    receiver, sender = socket.socketpair()
    with receiver, sender:
        sender.setblocking(False)
        previous = signal.set_wakeup_fd(sender.fileno(), warn_on_full_buffer=False)
        try:
            while True:
                select.select([receiver], [], [])
                receiver.recv(512)
        finally:
            signal.set_wakeup_fd(previous)

"""The local stack stops on SIGTERM whichever of its threads the kernel hands the signal to."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from devtools.template import REPO_ROOT

# A process like the stack: a stopping handler, and a signal delivered to a thread other than the main one (a
# process-directed SIGTERM can land on any of the stack's threads; pthread_kill makes that certain here).
PROGRAM = textwrap.dedent("""
    import signal, threading
    from devtools.local_stack.signals import wait_for_signals

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    threading.Timer(0.2, lambda: signal.pthread_kill(threading.get_ident(), signal.SIGTERM)).start()
    try:
        wait_for_signals()
    except KeyboardInterrupt:
        print("stopped", flush=True)
""")


def test_a_sigterm_taken_by_another_thread_stops_the_wait_at_once() -> None:
    # A main thread in time.sleep would run the handler only when it wakes: the run would time out.
    finished = subprocess.run([sys.executable, "-c", PROGRAM], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=20)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout == "stopped\n"

"""Child processes die with the kerun process that started them.

Sweep trials, launched workers and check workers run in sessions of their own (so a Ctrl-C in the
terminal reaches kerun, which stops them in order). When the parent is killed outright (SIGKILL,
OOM killer) nothing would stop them: they would train on, unseen. The parent puts its pid in the
child's environment (:func:`child_env`); the child calls :func:`hold` at start-up, and a daemon
thread watches for the parent to go (the child is re-parented). The child then gets SIGTERM, so a
training run stops as interrupted and can be resumed, and SIGKILL after :data:`GRACE` seconds if
it is still alive (TensorFlow's workers swallow SIGTERM).

POSIX only and standard library only; on other systems :func:`hold` does nothing.
"""

from __future__ import annotations

import os
import signal
import threading
import time

__all__ = ["ENV", "GRACE", "child_env", "hold"]

ENV = "KERUN_PARENT_PID"
GRACE = 20.0
_POLL = 0.5


def child_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` with this process named as the parent a child must not outlive."""
    return {**env, ENV: str(os.getpid())}


def hold() -> bool:
    """Start watching the parent named in the environment (and remove the name, so that this
    process's own children do not watch the wrong process). True if watching."""
    value = os.environ.pop(ENV, None)
    if value is None or os.name != "posix":
        return False
    try:
        parent = int(value)
    except ValueError:
        return False

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_POLL)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(GRACE)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="kerun-lifeline", daemon=True).start()
    return True

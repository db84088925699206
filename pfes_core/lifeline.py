"""Exit with the parent: a worker whose parent died (killed GUI, SIGKILLed `pfes extract`) has
nobody left to report to, yet would keep a CPU and hundreds of MB busy until its job ends.

Linux: the kernel sends a signal when the parent dies (``prctl(PR_SET_PDEATHSIG)``). Everywhere,
and as a backstop, a daemon thread polls ``os.getppid()``: it changes when the process is
re-parented to init or a subreaper. On parent death the caller's `on_death` runs (to cancel
cleanly); if the process is still alive `grace_s` later it exits hard.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Callable

_PR_SET_PDEATHSIG = 1
POLL_S = 0.5
_started = False


def _set_pdeathsig(signum: int) -> bool:
    """Ask the kernel for `signum` when the parent thread exits (Linux only; False elsewhere)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def hard_exit_later(grace_s: float) -> None:
    """os._exit(1) in `grace_s` seconds unless the process has ended by then."""
    timer = threading.Timer(grace_s, os._exit, args=(1,))
    timer.daemon = True
    timer.start()


def exit_with_parent(parent_pid: int | None = None, on_death: Callable[[], None] | None = None,
                     grace_s: float = 2.0, kernel_signal: bool = True) -> bool:
    """Make this process end soon after `parent_pid` (default: the current parent) dies.

    `on_death` is called once, from the polling thread, when the parent is gone (e.g. set a
    cancel flag or interrupt the main thread); without it the process exits at once. Returns
    False when there is nothing to watch (already orphaned, or started by init). Call it from the
    main thread: the kernel signal (SIGTERM, unless `kernel_signal` is False: then only the poll,
    within `POLL_S`) goes to the process's SIGTERM handler.
    """
    global _started
    parent = os.getppid() if parent_pid is None else int(parent_pid)
    if parent <= 1 or _started:
        return False
    _started = True
    fired = threading.Event()

    def died() -> None:
        if fired.is_set():
            return
        fired.set()
        if on_death is None:
            os._exit(1)
        hard_exit_later(grace_s)
        on_death()

    if kernel_signal and hasattr(signal, "SIGTERM"):
        _set_pdeathsig(signal.SIGTERM)
    if os.getppid() != parent:      # died before the kernel was told: nobody will signal us
        died()
        return True

    def poll() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_S)
        died()

    threading.Thread(target=poll, daemon=True, name="parent-watch").start()
    return True


def _pool_worker_init(parent_pid: int, initializer, initargs) -> None:
    exit_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


def process_pool(max_workers: int, initializer: Callable | None = None, initargs: tuple = ()):
    """A ProcessPoolExecutor of spawned workers (never forked: HDF5 and Qt handles must not be
    inherited) that exit by themselves when this process dies."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    return ProcessPoolExecutor(max_workers=max_workers, mp_context=get_context("spawn"),
                               initializer=_pool_worker_init,
                               initargs=(os.getpid(), initializer, initargs))

"""Keep the native libraries' chatter (MediaPipe, TFLite, absl) off the command line's stderr.

Why at the file-descriptor level: MediaPipe's C++ side logs INFO/WARNING lines through absl
(``W0000 00:00:... face_landmarker_graph.cc:181] ...``) and TFLite prints ``INFO: Created
TensorFlow Lite XNNPACK delegate for CPU.`` straight to file descriptor 2, from its own threads,
whatever Python's logging or ``GLOG_minloglevel`` say. Those lines garble progress bars and bury
the one ``error:`` line a user needs.

`install()` points descriptor 2 at a pipe read by a small forked filter process that copies every
line to the real stderr except those known info/warning lines (absl ``I``/``W`` lines, TFLite
``INFO:`` lines, absl's "logging before InitGoogle" notice). Errors and fatal lines (``E``/``F``)
and everything else pass unchanged. A process rather than a thread, so a native crash never
loses the lines written just before it: the filter reads until the last writer is gone.
``pfes --verbose`` leaves stderr alone. Only the `pfes` program installs it, never an in-process
caller (tests, the GUI), whose stderr is not ours to replace.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import select
import signal
import sys
import time

# absl/glog info and warning lines: I0000 00:00:1796203487.529393   19716 file.cc:181] text
_NOISE = re.compile(
    rb"^(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\]\n]*\] "
    rb"|INFO: "
    rb"|WARNING: Logging before InitGoogle\(\) is written to STDERR"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR)")
# A partial line is held back (up to HOLD_S) only while it could still turn out to be noise.
_GLOG_START = re.compile(rb"^[IW][\d :.]*(?: +\d*(?: [^\]\n]*)?)?$")
_TEXT_PREFIXES = (b"INFO: ", b"WARNING: ")
HOLD_S = 0.2
LIBRARY_LOGGERS = ("absl", "mediapipe", "tensorflow", "h5py", "matplotlib", "PIL")

_installed: dict = {}


def is_noise(line: bytes) -> bool:
    """True for a native info/warning line that `install` drops (bytes, without its newline)."""
    return bool(_NOISE.match(line.lstrip(b"\r")))


def _could_become_noise(partial: bytes) -> bool:
    partial = partial.lstrip(b"\r")
    if any(partial.startswith(p) or p.startswith(partial) for p in _TEXT_PREFIXES):
        return True
    return bool(_GLOG_START.match(partial))


def _filter_loop(read_fd: int, out_fd: int) -> None:
    """Copy `read_fd` to `out_fd` without the noise lines, until end of file."""
    pending = b""

    def emit(chunk: bytes) -> None:
        while chunk:
            try:
                chunk = chunk[os.write(out_fd, chunk):]
            except InterruptedError:
                continue
            except OSError:
                return

    while True:
        ready, _, _ = select.select([read_fd], [], [], HOLD_S if pending else None)
        if not ready:  # a held partial line did not grow: it is not noise after all
            emit(pending)
            pending = b""
            continue
        data = os.read(read_fd, 65536)
        if not data:
            emit(b"" if is_noise(pending) else pending)
            return
        pending += data
        *lines, pending = pending.split(b"\n")
        emit(b"".join(line + b"\n" for line in lines if not is_noise(line)))
        if pending and not _could_become_noise(pending):
            emit(pending)
            pending = b""


def quiet_python_loggers(verbose: bool = False) -> None:
    """Library loggers on the Python side: warnings and up by default, everything with verbose."""
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def stderr_is_terminal() -> bool:
    """Whether the user's stderr is a terminal (as it was before `install` piped it)."""
    if "tty" in _installed:
        return _installed["tty"]
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def install() -> bool:
    """Filter descriptor 2 for the rest of this process (and the workers it starts); returns
    whether the filter runs. Once per process; not on systems without fork."""
    if _installed or not hasattr(os, "fork"):
        return bool(_installed)
    try:
        original = os.dup(2)
    except OSError:  # no stderr at all
        return False
    tty = os.isatty(original)
    read_fd, write_fd = os.pipe()
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    pid = os.fork()
    if pid == 0:  # the filter: keep only the pipe and the real stderr
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is for the command
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # it ends when its writers do
            os.close(write_fd)
            keep = {read_fd, original}
            for fd in range(0, 256):
                if fd not in keep:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            _filter_loop(read_fd, original)
        finally:
            os._exit(0)
    os.close(read_fd)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    os.set_inheritable(2, True)
    _installed.update(pid=pid, original=original, tty=tty)
    atexit.register(_finish)
    return True


def _finish(wait_s: float = 2.0) -> None:
    """At exit: hand descriptor 2 back and let the filter drain, so its last lines (the
    ``error:`` line among them) come before the shell's prompt."""
    pid = _installed.get("pid")
    if not pid:
        return
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    os.dup2(_installed["original"], 2)  # our last reference to the pipe is gone: the filter sees EOF
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            break
        if done:
            break
        time.sleep(0.01)
    _installed["pid"] = None


__all__ = ["install", "is_noise", "quiet_python_loggers", "stderr_is_terminal"]

"""One writer per project: a lock file holding pid, hostname and time of the process that owns it.

Why a lock file and not an OS lock: it must be readable by a person ("who holds my project?")
and must survive on network shares where fcntl locks are unreliable. A lock left by a process
that died on this host is stale and is taken over; a lock from another host cannot be checked,
so it is reported with instructions instead of being broken silently.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from .errors import ProjectLockedError

LOCK_NAME = "project.lock"


def _pid_alive(pid: int) -> bool:
    """True when a process with `pid` exists on this host (signal 0 checks without touching it)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return False
    return True


def read_lock(path: str | os.PathLike) -> dict | None:
    """The holder recorded in a lock file, or None when it is missing or unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        info = json.loads(text)
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def describe_holder(info: dict | None) -> str:
    if not info:
        return "an unknown process"
    when = info.get("time")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)) if isinstance(when, (int, float)) else "?"
    return f"process {info.get('pid', '?')} on {info.get('hostname', '?')} (since {stamp})"


class ProjectLock:
    """Owns `<project>/project.lock` between acquire() and release()."""

    def __init__(self, root: str | os.PathLike):
        self.path = Path(root) / LOCK_NAME
        self.token = f"{os.getpid()}-{time.time_ns()}"
        self.held = False
        self.took_over: dict | None = None  # the stale holder we replaced, if any

    def _payload(self) -> bytes:
        info = {"pid": os.getpid(), "hostname": socket.gethostname(), "time": time.time(),
                "token": self.token}
        return (json.dumps(info) + "\n").encode("utf-8")

    def _try_create(self) -> bool:
        """Create the lock file with its content in one step; False when it already exists."""
        tmp = self.path.with_name(f"{LOCK_NAME}.{self.token}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(self._payload())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, self.path)  # atomic and never overwrites: the lock appears with its content
            return True
        except FileExistsError:
            return False
        except OSError:
            # Filesystems without hard links: exclusive create, then write.
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as fh:
                fh.write(self._payload())
            return True
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def acquire(self) -> None:
        """Take the lock, taking over a stale one; raise ProjectLockedError when a live process holds it."""
        for _ in range(5):
            if self._try_create():
                self.held = True
                return
            info = read_lock(self.path)
            if info is None:
                # Empty/garbled lock (a crash while creating it without hard links): give a writer
                # that is mid-creation a moment, then treat it as stale.
                try:
                    age = time.time() - self.path.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age < 2.0:
                    time.sleep(0.1)
                    continue
                self._break_stale(None)
                continue
            same_host = info.get("hostname") == socket.gethostname()
            pid = info.get("pid")
            if same_host and isinstance(pid, int) and not _pid_alive(pid):
                self._break_stale(info)
                continue
            where = "" if same_host else " (another computer: if it is no longer running, delete the lock file)"
            raise ProjectLockedError(
                f"project is open in {describe_holder(info)}{where}; lock file: {self.path}")
        raise ProjectLockedError(f"could not take the project lock {self.path}; try again")

    def _break_stale(self, info: dict | None) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.took_over = info or {}

    def release(self) -> None:
        """Remove the lock file, only if it is still ours."""
        if not self.held:
            return
        self.held = False
        info = read_lock(self.path)
        if info is not None and info.get("token") == self.token:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

"""One writer per project: a lock file holding pid, hostname and time of the process that owns it.

Why a lock file and not an OS lock: it must be readable by a person ("who holds my project?")
and must survive on network shares where fcntl locks are unreliable. A lock left by a process
that died on this host is stale and is taken over; a lock from another host cannot be checked,
so it is reported with instructions instead of being broken silently.

The protocol, so that two processes never both hold the lock:
- creating: the lock is written to a private temp file and hard-linked to ``project.lock``;
  the link fails when the lock exists, so it appears complete and never overwrites one;
- taking over a stale lock: only while holding an OS lock (``flock``) on the project folder,
  which the kernel drops when its holder dies, so it can never go stale itself. Under it the
  taker checks that ``project.lock`` is still the very file it judged stale (same inode, size,
  time and content) before deleting it; without that serialisation a second taker could delete
  the lock the first had just created (benchmarks/bench_lock_race.py races 6 processes).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
from pathlib import Path

from .errors import ProjectError, ProjectLockedError

try:
    import fcntl
except ImportError:  # Windows: stale locks are reported, not taken over
    fcntl = None

LOCK_NAME = "project.lock"
GUARD_NAME = "project.lock.takeover"  # only where the folder itself cannot be flock()ed
_STALE_TMP_S = 60.0  # a lock temp file this old belongs to no running acquire()


def pid_alive(pid: int) -> bool:
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
        self.root = Path(root)
        self.path = self.root / LOCK_NAME
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
        try:
            with open(tmp, "wb") as fh:
                fh.write(self._payload())
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, self.path)  # atomic and never overwrites: the lock appears with its content
                return True
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                    raise
            # Filesystems without hard links: exclusive create, then write.
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(self._payload())
            except OSError:
                os.unlink(self.path)
                raise
            return True
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def acquire(self) -> None:
        """Take the lock, taking over a stale one; raise ProjectLockedError when a live process holds
        it, ProjectError when the folder cannot be written (read-only, disk full)."""
        try:
            self._acquire()
        except OSError as exc:
            raise ProjectError(f"cannot lock {self.root} for writing ({exc.strerror or exc}); a read-only "
                               f"or full folder can still be opened read-only (e.g. `pfes info`)") from None
        self._remove_stale_temp_files()

    def _acquire(self) -> None:
        for _ in range(20):
            if self._try_create():
                self.held = True
                return
            try:
                seen = os.stat(self.path)
            except FileNotFoundError:
                continue
            info = read_lock(self.path)
            if info is None:
                # Empty/garbled lock (a crash while creating it without hard links): give a writer
                # that is mid-creation a moment, then treat it as stale.
                if time.time() - seen.st_mtime < 2.0:
                    time.sleep(0.1)
                    continue
                if self._take_over(seen, None):
                    return
                continue
            same_host = info.get("hostname") == socket.gethostname()
            pid = info.get("pid")
            if same_host and isinstance(pid, int) and not pid_alive(pid):
                if self._take_over(seen, info):
                    return
                continue
            where = "" if same_host else " (another computer: if it is no longer running, delete the lock file)"
            raise ProjectLockedError(
                f"project is open in {describe_holder(info)}{where}; lock file: {self.path}")
        raise ProjectLockedError(f"could not take the project lock {self.path}; try again")

    @contextlib.contextmanager
    def _takeover_guard(self):
        """Exclusive OS lock on the project folder while a stale lock is replaced."""
        if fcntl is None:
            raise ProjectLockedError(f"the project lock {self.path} was left by a process that has ended; "
                                     f"delete that file to open the project")
        fd = os.open(self.root, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:  # some network file systems lock only files opened for writing
                os.close(fd)
                fd = os.open(self.root / GUARD_NAME, os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the flock

    def _take_over(self, seen: os.stat_result, info: dict | None) -> bool:
        """Replace the stale lock `seen` by ours, unless someone replaced it first; True when ours."""
        with self._takeover_guard():
            try:
                now = os.stat(self.path)
            except FileNotFoundError:
                return False
            if (now.st_ino, now.st_size, now.st_mtime_ns) != (seen.st_ino, seen.st_size, seen.st_mtime_ns):
                return False
            if read_lock(self.path) != info:
                return False
            os.unlink(self.path)
            if not self._try_create():
                return False
            self.held = True
            self.took_over = info or {}
            return True

    def _remove_stale_temp_files(self) -> None:
        """Temp files of lock attempts that were killed (or failed on a full disk) long ago."""
        for tmp in self.root.glob(f"{LOCK_NAME}.*.tmp"):
            with contextlib.suppress(OSError):
                if time.time() - tmp.stat().st_mtime > _STALE_TMP_S:
                    tmp.unlink()

    def release(self) -> None:
        """Remove the lock file, only if it is still ours."""
        if not self.held:
            return
        self.held = False
        info = read_lock(self.path)
        if info is not None and info.get("token") == self.token:
            try:
                os.unlink(self.path)
            except OSError:
                pass

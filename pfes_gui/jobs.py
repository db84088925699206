"""Background jobs: one signal contract for every long task, run as a `pfes` worker process.

Why a process and not a thread: training runs torch, extraction runs OpenCV/MediaPipe; either
would freeze the GUI (the GIL, HDF5 locks) and neither can be cancelled safely from a thread.
The worker is the very command a user runs on a GPU server (`pfes train ... --progress jsonl`);
it prints one JSON object per line, which `WorkerJob` turns into Qt signals. Everything here runs
on the qasync event loop: the GUI thread only ever awaits pipes.

Signals are delivered from the Qt event loop, never from inside the job's asyncio task: the
job posts each emission (a queued relay signal) and the relay emits the public signal later.
Why: a slot that runs Qt events (a window-modal QProgressDialog.setValue, a modal message box)
would otherwise let qasync step the other reader task inside this one's step, which asyncio
refuses ("Cannot enter into task ... while another task ... is being executed") and the job
hangs. ``wait()`` resolves after ``finished`` was delivered, so every progress event comes first.

Signal contract (every `Job`):
    started()            the process is running
    progress(dict)       one parsed JSON event from the worker (always has "stage")
    log(str)             a non-JSON stdout line or a stderr line
    error(str)           the job failed or was cancelled; a one-line summary, then details
    finished(dict)       always last: {"ok", "returncode", "cancelled", "error", "last_event",
                         "run_id", "events", "stderr_tail", "seconds"}
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Hashable, Sequence

from PySide6.QtCore import QObject, Qt, Signal

#: Seconds between SIGTERM and SIGKILL when a job is cancelled.
DEFAULT_GRACE_S = 3.0
#: How many stderr lines are kept to explain a failure.
STDERR_TAIL_LINES = 30
#: A worker may print big JSON lines (metrics per video); asyncio's default limit is 64 KiB.
LINE_LIMIT = 16 * 1024 * 1024


_IO_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def run_in_thread(fn, *args):
    """Await `fn(*args)` on a small pool of plain Python threads (file reads after a job).

    Why not the loop's default executor: qasync's is made of QThreads, which Qt reports as
    destroyed-while-running when the application exits; Python threads are joined at exit.
    """
    global _IO_POOL
    if _IO_POOL is None:
        _IO_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2,
                                                         thread_name_prefix="pfes-gui-io")
    return asyncio.get_event_loop().run_in_executor(_IO_POOL, fn, *args)


def pfes_command(*args: str, progress: bool = True) -> list[str]:
    """The argv of a `pfes` subcommand through the current interpreter.

    `sys.executable -m pfes_core` works in a venv that was never activated and without the
    console script on PATH; `--progress jsonl` is appended unless the caller already chose.
    """
    argv = [sys.executable, "-m", "pfes_core", *map(str, args)]
    if progress and "--progress" not in argv:
        argv += ["--progress", "jsonl"]
    return argv


class JobConflictError(RuntimeError):
    """Another job with the same key (e.g. training on this project) is still running."""


class Job(QObject):
    """Base of every background job: the signals, the state and an awaitable result."""

    started = Signal()
    progress = Signal(object)   # dict
    log = Signal(str)
    error = Signal(str)
    finished = Signal(object)   # dict
    _posted = Signal(object, object)   # (public signal name, args): the queued relay

    def __init__(self, name: str, key: Hashable | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._posted.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self.name = name
        self.key = key
        self.result: dict | None = None
        self.last_event: dict | None = None
        self._task: asyncio.Task | None = None
        self._done: asyncio.Future | None = None

    @property
    def is_running(self) -> bool:
        return self._task is not None and self.result is None

    @property
    def is_done(self) -> bool:
        return self.result is not None

    def start(self) -> asyncio.Task:
        """Schedule the job on the running (qasync) loop and return its task; returns at once."""
        if self._task is not None:
            raise RuntimeError(f"job {self.name!r} was already started")
        loop = asyncio.get_event_loop()
        self._done = loop.create_future()
        self._task = loop.create_task(self._guarded_run())
        return self._task

    async def wait(self) -> dict:
        """Await the finished dict (for callers and tests that live on the loop)."""
        if self._done is None:
            raise RuntimeError(f"job {self.name!r} was not started")
        return await asyncio.shield(self._done)

    def cancel(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _post(self, name: str, *args) -> None:
        """Emit the public signal ``name`` from the event loop, after the current task step."""
        self._posted.emit(name, args)

    def _deliver(self, name: str, args: tuple) -> None:
        if name == "finished":
            result = args[0]
            self.result = result
            self.finished.emit(result)
            if self._done is not None and not self._done.done():
                self._done.set_result(result)
            return
        getattr(self, name).emit(*args)

    async def _guarded_run(self) -> None:
        """Run and guarantee `finished` even if the job's own code raises."""
        t0 = time.monotonic()
        try:
            result = await self._run()
        except Exception as exc:  # a bug in the runner must not leave the GUI waiting forever
            message = f"{self.name}: internal error: {exc!r}"
            self._post("error", message)
            result = {"ok": False, "returncode": None, "cancelled": False, "error": message,
                      "last_event": self.last_event, "run_id": None, "events": 0,
                      "stderr_tail": ""}
        result["seconds"] = round(time.monotonic() - t0, 3)
        self._post("finished", result)

    async def _run(self) -> dict:  # pragma: no cover - overridden
        raise NotImplementedError


class WorkerJob(Job):
    """Run one worker process and translate its JSON-lines stdout into signals.

    `command` is a full argv (see `pfes_command`). Non-JSON lines on stdout (a library's warning
    printed with print) are logged, not fatal. The process gets its own session so that cancel
    also stops the worker's children (data-loader processes).
    """

    def __init__(self, command: Sequence[str], name: str = "job", key: Hashable | None = None,
                 cwd: str | os.PathLike | None = None, env: dict[str, str] | None = None,
                 grace_s: float = DEFAULT_GRACE_S, parent: QObject | None = None):
        super().__init__(name, key, parent)
        self.command = [str(c) for c in command]
        self.cwd = str(cwd) if cwd is not None else None
        self.env = env
        self.grace_s = grace_s
        self.returncode: int | None = None
        self.run_id: str | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._cancelled = False
        self._error_event: str | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._n_events = 0
        self._kill_task: asyncio.Task | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Ask the worker to stop: SIGTERM now, SIGKILL after `grace_s` if it is still alive."""
        if self.is_done or self._cancelled:
            return
        self._cancelled = True
        if self._proc is not None and self._proc.returncode is None:
            self._signal(signal.SIGTERM)
            self._kill_task = asyncio.get_event_loop().create_task(self._kill_after_grace())
        # a job whose process is not created yet sees the flag right after creation

    def _signal(self, sig: int) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        try:
            if hasattr(os, "killpg"):
                os.killpg(proc.pid, sig)
            elif sig == getattr(signal, "SIGKILL", None):
                proc.kill()
            else:
                proc.terminate()
        except ProcessLookupError:
            pass

    async def _kill_after_grace(self) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), self.grace_s)
        except asyncio.TimeoutError:
            self._post("log", f"{self.name}: worker ignored SIGTERM for {self.grace_s:g} s; killing it")
            self._signal(getattr(signal, "SIGKILL", signal.SIGTERM))

    async def _run(self) -> dict:
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")   # noise lines arrive in order, not at exit
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.command, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                cwd=self.cwd, env=env, limit=LINE_LIMIT,
                start_new_session=hasattr(os, "killpg"))
        except OSError as exc:
            message = f"{self.name}: could not start the worker: {exc}"
            self._post("error", message)
            return self._result(ok=False, error=message)
        self._post("started")
        if self._cancelled:   # cancel() came while the process was being created
            self._signal(signal.SIGTERM)
            self._kill_task = asyncio.get_event_loop().create_task(self._kill_after_grace())
        await asyncio.gather(self._read_stdout(self._proc.stdout),
                             self._read_stderr(self._proc.stderr))
        self.returncode = await self._proc.wait()
        if self._kill_task is not None:
            await self._kill_task
        ok = self.returncode == 0 and not self._cancelled
        message = None if ok else self._failure_message()
        if message is not None:
            self._post("error", message)
        return self._result(ok=ok, error=message)

    def _result(self, ok: bool, error: str | None) -> dict[str, Any]:
        return {"ok": ok, "returncode": self.returncode, "cancelled": self._cancelled,
                "error": error, "last_event": self.last_event, "run_id": self.run_id,
                "events": self._n_events, "stderr_tail": "\n".join(self._stderr_tail)}

    def _failure_message(self) -> str:
        """One line a user can act on, then the stderr tail when the worker gave no reason."""
        if self._cancelled:
            return f"{self.name}: cancelled"
        if self._error_event:
            return f"{self.name}: {self._error_event}"
        cli_errors = [line for line in self._stderr_tail if line.startswith("error:")]
        if cli_errors:
            return f"{self.name}: {cli_errors[-1][len('error:'):].strip()}"
        if self.returncode is not None and self.returncode < 0:
            # killed from outside (out of memory, `kill`): the stderr tail is shutdown noise, not
            # the reason; it stays in the result's stderr_tail for a Details box
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return (f"{self.name}: the worker process was killed ({name}), e.g. out of memory "
                    f"or stopped from outside")
        summary = f"{self.name}: worker exited with code {self.returncode}"
        if self._stderr_tail:
            summary += "\n" + "\n".join(self._stderr_tail)
        return summary

    async def _read_stdout(self, stream: asyncio.StreamReader) -> None:
        async for raw in _lines(stream):
            line = raw.strip()
            if not line:
                continue
            event = _parse_event(line)
            if event is None:
                self._post("log", line)
                continue
            self._n_events += 1
            self.last_event = event
            if event.get("run_id"):
                self.run_id = str(event["run_id"])
            if event.get("stage") == "error":
                self._error_event = str(event.get("message") or "failed")
            self._post("progress", event)

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        async for raw in _lines(stream):
            line = raw.rstrip()
            if not line:
                continue
            self._stderr_tail.append(line)
            self._post("log", line)


async def _lines(stream: asyncio.StreamReader):
    """Decoded lines of a pipe; a line longer than LINE_LIMIT is skipped, not fatal."""
    while True:
        try:
            raw = await stream.readline()
        except ValueError:   # LimitOverrunError wrapped by readline: drop the monster line
            continue
        if not raw:
            return
        yield raw.decode("utf-8", errors="replace")


def _parse_event(line: str) -> dict | None:
    """A progress event is a JSON object with a "stage"; anything else is noise for the log."""
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, dict) or "stage" not in value:
        return None
    return value


def project_key(kind: str, project_root: str | os.PathLike) -> tuple[str, str]:
    """The exclusivity key of a job kind on one project (same folder -> same key)."""
    return (kind, str(Path(project_root).resolve()))


class JobManager(QObject):
    """Owns the running jobs: refuses a second job with the same key, cancels all on exit."""

    job_started = Signal(object)    # Job
    job_finished = Signal(object)   # Job

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._jobs: list[Job] = []

    @property
    def jobs(self) -> list[Job]:
        """Running jobs, oldest first."""
        return list(self._jobs)

    def running(self, key: Hashable) -> Job | None:
        for job in self._jobs:
            if job.key == key and not job.is_done:
                return job
        return None

    def is_busy(self, key: Hashable) -> bool:
        return self.running(key) is not None

    def start(self, job: Job) -> Job:
        """Start `job` unless one with its key is running (raises JobConflictError)."""
        if job.key is not None:
            other = self.running(job.key)
            if other is not None:
                raise JobConflictError(f"{other.name} is still running; wait for it or cancel it")
        self._jobs.append(job)
        job.finished.connect(lambda _result, job=job: self._forget(job))
        job.start()
        self.job_started.emit(job)
        return job

    def _forget(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        self.job_finished.emit(job)

    def cancel_all(self) -> None:
        for job in list(self._jobs):
            job.cancel()

    async def shutdown(self, timeout_s: float = DEFAULT_GRACE_S + 2.0) -> None:
        """Cancel every job and wait for the processes to go (called when the window closes)."""
        jobs = list(self._jobs)
        self.cancel_all()
        if jobs:
            await asyncio.wait([asyncio.ensure_future(j.wait()) for j in jobs], timeout=timeout_s)

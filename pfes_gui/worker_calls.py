"""Run one blocking call (Project.open, Project.save) on a worker thread without freezing Qt.

``IoTask.wait_with_events`` keeps the GUI painting while the call runs, but only where a local
event loop is safe: never inside an asyncio task, where it would let qasync step other tasks
inside this one's step (asyncio refuses: "Cannot enter into task ... while another task ... is
being executed", and wake-ups are lost). Coroutines await the task instead (``wait_async``).
"""

from __future__ import annotations

import asyncio
import threading

from PySide6.QtCore import QEventLoop, QTimer, Signal


def in_asyncio_task() -> bool:
    """True while the caller runs inside an asyncio task step (no nested event loop allowed)."""
    try:
        return asyncio.current_task() is not None
    except RuntimeError:            # no running event loop
        return False


class IoTask:
    """One call on a daemon worker thread; ``done`` (a Signal, queued to the GUI thread) is
    emitted with the task when it ends. ``wait_with_events`` runs a local event loop that
    excludes user input until then: windows repaint, timers and other threads' signals are
    served, clicks and keys stay queued and are delivered in order afterwards."""

    def __init__(self, fn, done: Signal, purpose: str = ""):
        self.fn = fn
        self.done_signal = done
        self.purpose = purpose
        self.project = None
        self.result = None
        self.error: BaseException | None = None
        self.finished = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"pfes-io-{self.purpose or 'call'}",
                         daemon=True).start()

    def _run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the GUI thread
            self.error = exc
        finally:
            self.finished.set()
            try:
                self.done_signal.emit(self)
            except RuntimeError:        # the window is gone (application exit)
                pass

    async def wait_async(self) -> None:
        """Await the worker from a coroutine (polls; never nests an event loop)."""
        while not self.finished.is_set():
            await asyncio.sleep(0.01)

    def wait_with_events(self) -> None:
        if in_asyncio_task():
            # Inside a coroutine a local event loop would re-enter asyncio: block instead
            # (coroutines should await wait_async(); this is the safe fallback).
            self.finished.wait()
            return
        while not self.finished.is_set():
            loop = QEventLoop()
            # Wake the loop from the worker (queued call), and poll as a safety net.
            self.done_signal.connect(loop.quit)
            timer = QTimer()
            timer.setInterval(25)
            timer.timeout.connect(lambda: self.finished.is_set() and loop.quit())
            timer.start()
            try:
                if not self.finished.is_set():
                    loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
            finally:
                timer.stop()
                self.done_signal.disconnect(loop.quit)

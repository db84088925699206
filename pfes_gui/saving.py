"""Saving: the idle autosave, Ctrl+S, save-before-export, and the saved/unsaved display.

No project.h5 I/O on the GUI thread: the autosave runs ``Project.save`` on a worker thread and
returns at once; an explicit save (Ctrl+S, before export/training) runs on a worker too, while
the GUI thread keeps its event loop going with a busy indicator. Project.save reads the live
label/review stores and then rewrites the journal, so the project must not change while it
runs: every change first calls ``wait_for_save()``, which lets an in-flight save finish (user
input is held back, in order, until then; painting goes on). No edit is lost or reordered.
A failed save (disk full, permissions) is a dialog, never a traceback; the journal still holds
every acknowledged edit.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import QApplication

from pfes_core.errors import PfesError

from . import dialogs
from .worker_calls import IoTask

AUTOSAVE_IDLE_MS = 3000


class SaveController(QObject):
    """Owns the autosave timer, the background save in flight and the busy indicator."""

    io_done = Signal(object)            # an IoTask finished on its worker thread

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.save_task: IoTask | None = None     # the background save in flight, if any
        self.busy_depth = 0
        self.saves_started = 0                    # counters for tests and the status bar
        self.failure_shown: str | None = None     # the save error last shown in a dialog
        self.io_done.connect(self._io_task_done)
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setSingleShot(True)
        self.autosave_timer.setInterval(AUTOSAVE_IDLE_MS)
        self.autosave_timer.timeout.connect(self.autosave)

    # ---- state -------------------------------------------------------------------------------
    @property
    def saving(self) -> bool:
        return self.save_task is not None

    def is_dirty(self) -> bool:
        return self.w.project is not None and bool(self.w.project.is_dirty)

    def mark_dirty(self) -> None:
        self.autosave_timer.start()
        self.update_save_state()

    def update_save_state(self) -> None:
        w = self.w
        if w.project is None:
            w.setWindowTitle("P-FES Studio")
            w.setWindowModified(False)
            w.save_label.setText("")
            return
        dirty = self.is_dirty() or self.saving
        name = Path(w.project.root).name
        ro = " [read-only]" if w.readonly() else ""
        w.setWindowTitle(f"{name}{ro}[*] \u2014 P-FES Studio")
        w.setWindowModified(dirty)
        if w.readonly():
            w.save_label.setText("read-only")
            w.save_label.setStyleSheet("color: #c9a227;")
        elif self.saving:
            w.save_label.setText("\u25cf saving...")
            w.save_label.setStyleSheet("color: #e0a030;")
        elif dirty:
            w.save_label.setText("\u25cf unsaved (journaled)")
            w.save_label.setStyleSheet("color: #e0a030;")
        else:
            w.save_label.setText("\u2713 saved")
            w.save_label.setStyleSheet("color: #6cbf6c;")

    # ---- saving --------------------------------------------------------------------------------
    def save(self) -> bool:
        """Save now (Ctrl+S; export and training save first). Returns when project.h5 is
        written; the write runs on a worker thread while the GUI keeps painting."""
        w = self.w
        if w.project is None or w.readonly():
            return False
        self.autosave_timer.stop()
        self.wait_for_save()
        project = w.project
        if project is None:
            return False
        self.saves_started += 1
        try:
            self.run_in_worker(project.save, "Saving...")
        except (PfesError, OSError) as exc:
            self._save_failed(exc, asked=True)
            return False
        self._save_succeeded()
        return True

    def autosave(self) -> None:
        """The idle-timer save: starts Project.save on a worker thread and returns at once."""
        w = self.w
        if w.project is None or not self.is_dirty() or w.readonly() or self.save_task is not None:
            return
        self._start_background_save()

    def _start_background_save(self) -> IoTask:
        self.saves_started += 1
        task = IoTask(self.w.project.save, self.io_done, purpose="autosave")
        task.project = self.w.project
        self.save_task = task
        self.set_busy(True, "Saving...")
        self.update_save_state()
        task.start()
        return task

    async def save_async(self) -> bool:
        """``save()`` for coroutines (export, jobs): awaits the worker instead of running a
        local event loop, which would re-enter asyncio while the calling task is running."""
        w = self.w
        if w.project is None or w.readonly():
            return False
        self.autosave_timer.stop()
        while self.save_task is not None:          # an autosave in flight: let it finish
            task = self.save_task
            await task.wait_async()
            self._io_task_done(task)
        if w.project is None:
            return False
        task = self._start_background_save()
        await task.wait_async()
        self._io_task_done(task)
        return task.error is None

    def wait_for_save(self) -> None:
        """Let an in-flight background save finish before the project changes. The event loop
        keeps running meanwhile (outside asyncio tasks); user input waits, in order."""
        task = self.save_task
        if task is not None:
            task.wait_with_events()
            self._io_task_done(task)     # settle it now (its queued signal is then a no-op)

    def _io_task_done(self, task) -> None:
        """A worker finished (queued signal, or called by wait_for_save): finish a background save."""
        if task.purpose != "autosave" or task is not self.save_task:
            return
        self.save_task = None
        self.set_busy(False)
        if task.project is not self.w.project:
            return
        if task.error is not None:
            self._save_failed(task.error)
        else:
            self._save_succeeded()

    def _save_succeeded(self) -> None:
        # Nothing changed the project during the write (wait_for_save), so it is clean now.
        self.failure_shown = None
        self.w.undo_stack.setClean()
        self.update_save_state()
        self.w.show_status("Saved", 2000)
        self.w.save_finished.emit(True)

    def _save_failed(self, exc, asked: bool = False) -> None:
        """A dialog, never a traceback. An autosave that fails the same way again only updates
        the status bar (no dialog every few seconds); Ctrl+S always answers."""
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if asked or reason != self.failure_shown:
            self.failure_shown = reason
            dialogs.error(self.w, "Save failed",
                          f"Could not write project.h5: {reason}\n\nNothing is lost: every edit "
                          f"is kept in the journal and in this window. Free some disk space (or "
                          f"fix the permissions) and save again (Ctrl+S).")
        self.w.show_status("Save failed; edits are kept in the journal", 8000)
        self.update_save_state()
        self.w.save_finished.emit(False)

    # ---- worker calls with a busy indicator ------------------------------------------------------
    def run_in_worker(self, fn, busy_text: str):
        """Run ``fn`` on a worker thread and return its result (or raise its exception) while
        this thread keeps processing events except user input, with a busy indicator."""
        task = IoTask(fn, self.io_done)
        self.set_busy(True, busy_text)
        try:
            task.start()
            task.wait_with_events()
        finally:
            self.set_busy(False)
        if task.error is not None:
            raise task.error
        return task.result

    def set_busy(self, busy: bool, text: str = "") -> None:
        w = self.w
        if busy:
            self.busy_depth += 1
            if self.busy_depth == 1:
                w.busy_bar.show()
                QApplication.setOverrideCursor(QCursor(Qt.CursorShape.BusyCursor))
            if text:
                w.statusBar().showMessage(text)
        elif self.busy_depth > 0:
            self.busy_depth -= 1
            if self.busy_depth == 0:
                w.busy_bar.hide()
                QApplication.restoreOverrideCursor()
                w.statusBar().clearMessage()


def install(window) -> SaveController:
    window.saver = SaveController(window)
    return window.saver

"""Every modal question or message the app asks or shows goes through these few functions.

Why: tests monkeypatch this module (e.g. ``monkeypatch.setattr(dialogs, "error", record)``) so
no modal dialog ever blocks a test run, and the wording of errors stays in one place.

No nested event loop inside an asyncio task: a message shown from a coroutine (after a worker
job) is opened window-modal and returns at once, because ``exec()`` there would let qasync step
other tasks inside the calling task's step. Progress is shown with ``ProgressDialog``, whose
updates never process events (QProgressDialog.setValue does, when modal).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QDialog, QFileDialog, QHBoxLayout, QInputDialog, QLabel,
                               QMessageBox, QProgressBar, QPushButton, QVBoxLayout, QWidget)

from .worker_calls import in_asyncio_task

_open_boxes: list[QMessageBox] = []     # messages opened without exec(), kept alive until closed


def _show(box: QMessageBox) -> None:
    if in_asyncio_task():
        box.setWindowModality(Qt.WindowModality.WindowModal if box.parent() is not None
                              else Qt.WindowModality.ApplicationModal)
        _open_boxes.append(box)
        box.finished.connect(lambda _r, b=box: _open_boxes.remove(b) if b in _open_boxes else None)
        box.open()
    else:
        box.exec()


def error(parent: QWidget | None, title: str, message: str, details: str | None = None) -> None:
    """Show an error the user can act on; ``details`` (e.g. a traceback) is folded away."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok,
                      parent)
    if details:
        box.setDetailedText(details)
    _show(box)


def info(parent: QWidget | None, title: str, message: str) -> None:
    _show(QMessageBox(QMessageBox.Icon.Information, title, message,
                      QMessageBox.StandardButton.Ok, parent))


class ProgressDialog(QDialog):
    """A window-modal progress box with Cancel whose updates never run the event loop."""

    canceled = Signal()

    def __init__(self, parent: QWidget | None, title: str, text: str):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(460)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        layout = QVBoxLayout(self)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.canceled)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(cancel)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addLayout(row)
        self._finishing = False

    def set_progress(self, step: int | None, total: int | None, text: str | None = None) -> None:
        if total:
            self.bar.setRange(0, int(total))
            self.bar.setValue(min(int(step or 0), int(total)))
        if text is not None:
            self.label.setText(text)


    def finish(self) -> None:
        """Close the dialog (the work ended)."""
        self._finishing = True
        super().reject()

    def reject(self) -> None:          # Esc / the window's close button: cancel, like the button
        if self._finishing:
            super().reject()
        else:
            self.canceled.emit()


def ask_yes_no(parent: QWidget | None, title: str, question: str, default_yes: bool = True) -> bool:
    """A yes/no question; True for yes."""
    default = QMessageBox.StandardButton.Yes if default_yes else QMessageBox.StandardButton.No
    answer = QMessageBox.question(
        parent, title, question,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, default)
    return answer == QMessageBox.StandardButton.Yes


def get_existing_dir(parent: QWidget | None, title: str, start: str = "") -> str | None:
    path = QFileDialog.getExistingDirectory(parent, title, start)
    return path or None


def get_open_files(parent: QWidget | None, title: str, filters: str, start: str = "") -> list[str]:
    paths, _ = QFileDialog.getOpenFileNames(parent, title, start, filters)
    return list(paths)


def get_open_file(parent: QWidget | None, title: str, filters: str, start: str = "") -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, title, start, filters)
    return path or None


def get_save_file(parent: QWidget | None, title: str, filters: str, start: str = "") -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, title, start, filters)
    return path or None


def get_int(parent: QWidget | None, title: str, label: str, value: int, lo: int,
            hi: int) -> int | None:
    """An integer in [lo, hi], or None when cancelled."""
    number, ok = QInputDialog.getInt(parent, title, label, value, lo, hi)
    return int(number) if ok else None

"""Every modal question or message the app asks or shows goes through these few functions.

Why: tests monkeypatch this module (e.g. ``monkeypatch.setattr(dialogs, "error", record)``) so
no modal dialog ever blocks a test run, and the wording of errors stays in one place.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget


def error(parent: QWidget | None, title: str, message: str, details: str | None = None) -> None:
    """Show an error the user can act on; ``details`` (e.g. a traceback) is folded away."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok,
                      parent)
    if details:
        box.setDetailedText(details)
    box.exec()


def info(parent: QWidget | None, title: str, message: str) -> None:
    QMessageBox.information(parent, title, message)


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

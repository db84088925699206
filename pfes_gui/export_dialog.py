"""File -> Export spotted intervals: CSV, JSON, ELAN EAF or MEGC-style, as `pfes export` writes them.

Why reuse `pfes_core.cli.eval_cmds.export_run`: the app and the CLI must export the same file for
the same project - same review rule (rejected dropped, adjusted with the reviewer's boundaries,
`--reviewed-only` keeps accepted + adjusted), same provenance, same writers
(pfes_core.exports.write_intervals). The project is saved first so the reader sees every decision;
the export runs in a worker thread (it reads predictions.h5), never on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget)

from . import dialogs
from .jobs import run_in_thread

# (format id of `pfes export --format`, menu text, file suffix)
FORMATS = (("csv", "CSV (video, class, onset, apex, offset, score)", ".csv"),
           ("json", "JSON (intervals + provenance)", ".json"),
           ("eaf", "ELAN EAF (one file per video)", ".eaf"),
           ("megc", "MEGC-style CSV (video, onset, offset, type)", ".csv"))


class ExportDialog(QDialog):
    """The 'ask' step: format, file, reviewed-only. `values()` reads the choice."""

    def __init__(self, parent: QWidget | None = None, run_id: str | None = None,
                 start_dir: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Export spotted intervals")
        self._start_dir = start_dir
        form = QFormLayout(self)
        form.addRow("Run:", QLabel(run_id or "latest finished run"))
        self.format_box = QComboBox()
        for fmt, text, _suffix in FORMATS:
            self.format_box.addItem(text, fmt)
        self.format_box.currentIndexChanged.connect(self._format_changed)
        form.addRow("Format:", self.format_box)
        row = QHBoxLayout()
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("output file")
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        form.addRow("File:", row)
        self.reviewed_only = QCheckBox("Only proposals accepted or adjusted in review")
        form.addRow("", self.reviewed_only)
        form.addRow("", QLabel("Rejected proposals are always left out; adjusted ones use the "
                               "reviewed boundaries."))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        if start_dir:
            self.path_edit.setText(str(Path(start_dir) / "intervals.csv"))

    def _format_changed(self) -> None:
        text = self.path_edit.text().strip()
        if text:
            suffix = FORMATS[self.format_box.currentIndex()][2]
            self.path_edit.setText(str(Path(text).with_suffix(suffix)))

    def _browse(self) -> None:
        fmt, text, suffix = FORMATS[self.format_box.currentIndex()]
        path = dialogs.get_save_file(self, "Export spotted intervals",
                                     f"{text} (*{suffix});;All files (*)",
                                     self.path_edit.text() or self._start_dir)
        if path:
            self.path_edit.setText(path)

    def _accept(self) -> None:
        if not self.path_edit.text().strip():
            self.path_edit.setFocus()
            return
        self.accept()

    def values(self) -> tuple[str, str, bool]:
        """(path, format id, reviewed_only)."""
        return (self.path_edit.text().strip(), self.format_box.currentData(),
                self.reviewed_only.isChecked())


async def export_intervals(main_window, path, fmt: str, run_id: str | None = None,
                           reviewed_only: bool = False) -> tuple[list[Path], int]:
    """The 'do' step: save the project, then `export_run` in a thread. Raises PfesError."""
    from pfes_core.cli.eval_cmds import export_run
    from pfes_core.errors import PfesError

    project = main_window.project
    if project is None:
        raise PfesError("no project is open")
    if project.is_dirty and not getattr(project, "readonly", False):
        save_async = getattr(main_window, "save_async", None)
        saved = await save_async() if save_async is not None else main_window.save()
        if not saved:
            raise PfesError("the project could not be saved; export cancelled")
    root = Path(project.root)
    return await run_in_thread(export_run, root, Path(path), fmt, run_id, reviewed_only)


def run_export_dialog(main_window, run_id: str | None, spawn) -> ExportDialog | None:
    """Ask, then schedule the export with `spawn(coroutine)`; reports the outcome in the status
    bar or an error dialog. Returns the dialog (for tests) or None when cancelled."""
    from pfes_core.errors import PfesError

    if main_window.project is None:
        return None
    dialog = ExportDialog(main_window, run_id, str(Path(main_window.project.root).parent))
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    path, fmt, reviewed_only = dialog.values()

    async def go():
        try:
            files, n = await export_intervals(main_window, path, fmt, run_id, reviewed_only)
        except (PfesError, OSError) as exc:
            dialogs.error(main_window, "Export failed", str(exc))
            return
        main_window.show_status(f"Exported {n} intervals to {', '.join(str(f) for f in files)}",
                                8000)

    spawn(go())
    return dialog

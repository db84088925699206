"""File -> Export spotted intervals: CSV, JSON, ELAN EAF or MEGC-style, as `pfes export` writes them.

Why reuse `pfes_core.cli.eval_cmds.export_run`: the app and the CLI must export the same file for
the same project - same review rule (rejected dropped, adjusted with the reviewer's boundaries,
`--reviewed-only` keeps accepted + adjusted), same provenance, same writers
(pfes_core.exports.write_intervals). The project is saved first so the reader sees every decision;
the export runs in a worker thread (it reads predictions.h5), never on the GUI thread.

The dialog never overwrites silently: each format starts from its own file name (CSV and the
MEGC table are both .csv, so MEGC gets ``intervals_megc.csv``), and OK asks before replacing any
file the export would write (`pfes_core.exports.export_targets`: the CSV's provenance sidecar,
one EAF per video). The format list and the column line under it are built from the writer's own
header (`pfes_core.exports.columns`), so they cannot drift from the file.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget)

from pfes_core.baseline import BASELINE_RUN_ID
from pfes_core.exports import COLUMN_HELP, columns, export_targets

from . import dialogs
from .jobs import run_in_thread

# (format id of `pfes export --format`, menu text, file suffix, default file stem)
FORMATS = (("csv", "CSV table", ".csv", "intervals"),
           ("json", "JSON (intervals + provenance)", ".json", "intervals"),
           ("eaf", "ELAN EAF (one file per video)", ".eaf", "intervals"),
           ("megc", "MEGC challenge table (CSV)", ".csv", "intervals_megc"))
STEM_TAGS = {fmt: stem[len("intervals"):] for fmt, _t, _s, stem in FORMATS}   # "_megc" or ""


def describe_format(fmt: str) -> str:
    """The line under the format box: the file's columns, in the writer's order, with what each
    holds (tooltip), or what the format holds when it is not a table."""
    cols = columns(fmt)
    if cols:
        return "Columns: " + ", ".join(cols)
    return {"json": "One JSON document: provenance and every interval with all its fields.",
            "eaf": "ELAN tiers per class with apex and point-label tiers; one file per video "
                   "when several videos have intervals."}.get(fmt, "")


def _retag(path: Path, fmt: str) -> Path:
    """``path`` with the suffix and stem tag of ``fmt`` (intervals.csv <-> intervals_megc.csv)."""
    stem = path.stem
    for tag in STEM_TAGS.values():
        if tag and stem.endswith(tag):
            stem = stem[: -len(tag)]
    suffix = next(sfx for f, _t, sfx, _s in FORMATS if f == fmt)
    return path.with_name(stem + STEM_TAGS[fmt] + suffix)


class ExportDialog(QDialog):
    """The 'ask' step: format, file, reviewed-only. `values()` reads the choice."""

    def __init__(self, parent: QWidget | None = None, run_id: str | None = None,
                 start_dir: str = "", videos=()):
        super().__init__(parent)
        self.setWindowTitle("Export spotted intervals")
        self._start_dir = start_dir
        self._videos = list(videos)
        form = QFormLayout(self)
        form.addRow("Run:", QLabel(run_id or "latest finished run"))
        self.format_box = QComboBox()
        for fmt, text, _suffix, _stem in FORMATS:
            self.format_box.addItem(text, fmt)
        self.format_box.currentIndexChanged.connect(self._format_changed)
        form.addRow("Format:", self.format_box)
        self.columns_label = QLabel()
        self.columns_label.setWordWrap(True)
        form.addRow("", self.columns_label)
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
        self._describe()

    def _describe(self) -> None:
        fmt = self.format_box.currentData()
        self.columns_label.setText(describe_format(fmt))
        self.columns_label.setToolTip("\n".join(f"{c}: {COLUMN_HELP[c]}" for c in columns(fmt)
                                                if c in COLUMN_HELP))

    def _format_changed(self) -> None:
        text = self.path_edit.text().strip()
        if text:
            self.path_edit.setText(str(_retag(Path(text), self.format_box.currentData())))
        self._describe()

    def _browse(self) -> None:
        fmt, text, suffix, _stem = FORMATS[self.format_box.currentIndex()]
        path = dialogs.get_save_file(self, "Export spotted intervals",
                                     f"{text} (*{suffix});;All files (*)",
                                     self.path_edit.text() or self._start_dir)
        if path:
            self.path_edit.setText(path)

    def existing_targets(self) -> list[Path]:
        """Files the export as chosen would replace."""
        path, fmt, _reviewed = self.values()
        targets = [Path(path), *export_targets(path, fmt, self._videos)]
        return [t for t in dict.fromkeys(targets) if t.exists()]

    def _accept(self) -> None:
        if not self.path_edit.text().strip():
            self.path_edit.setFocus()
            return
        existing = self.existing_targets()
        if existing:
            names = "\n".join(str(p) for p in existing)
            if not dialogs.ask_yes_no(self, "Replace files?",
                                      f"The export would replace:\n{names}\n\nReplace "
                                      f"{'it' if len(existing) == 1 else 'them'}?",
                                      default_yes=False):
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
    if run_id == BASELINE_RUN_ID:
        raise PfesError("the motion proposals are a review aid, not a model's output; train a "
                        "model (Model -> Retrain) and Spot to export intervals. Each motion "
                        "proposal you accepted is already a label in the project.")
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
    if run_id == BASELINE_RUN_ID:
        dialogs.info(main_window, "Export spotted intervals",
                     "The proposals shown are the motion baseline (no trained model), a review "
                     "aid: accepting one adds its label to the project. Train a model "
                     "(Model -> Retrain), then Spot, to export intervals.")
        return None
    controller = getattr(main_window, "model_controller", None)
    videos = list(getattr(controller, "predictions", {}) or main_window.project.videos)
    dialog = ExportDialog(main_window, run_id, str(Path(main_window.project.root).parent), videos)
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

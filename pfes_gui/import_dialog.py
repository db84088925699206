"""File -> Import annotations (ELAN, BORIS, tables) and File -> Import dataset (CAS(ME)^2, SAMM-LV,
CAS(ME)^3): the data a lab already has, into the app.

Why dialogs and not a file picker: ELAN and BORIS files need the choices `pfes labels import`
takes as options (tiers, word -> class mapping, table columns). The annotations dialog previews
what the file gives (counts per class, or the error naming file and row) before anything is
written, reads through the same `annotation_formats.read_annotations` as the CLI, and lands as one
undoable edit. The dataset import runs `import_dataset` in a worker thread (it probes every
recording) behind a progress box that never nests the event loop, then opens the new project.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

from pfes_core import annotation_formats as af
from pfes_core.errors import CancelledError, PfesError
from pfes_core.labels import BulkImport
from pfes_core.types import CLASSES

from . import dialogs, shortcuts
from .jobs import run_in_thread
from .undo_commands import push_edit

log = logging.getLogger(__name__)

_ROWS = (
    ("file.import_annotations", "", "Import labels or intervals from ELAN, BORIS or a table", "File"),
    ("file.import_dataset", "", "Import a dataset (CAS(ME)^2, SAMM-LV, CAS(ME)^3) as a new project",
     "File"),
)
for _row in _ROWS:
    try:
        shortcuts.register(*_row)
    except shortcuts.ShortcutConflict:   # module imported twice (tests): rows already there
        pass

FILE_FILTER = ("Annotations (*.eaf *.csv *.tsv *.txt *.xlsx *.xls *.json);;ELAN (*.eaf);;"
               "BORIS or tables (*.csv *.tsv *.xlsx *.xls);;All files (*)")
FROM_FILE = "(named in the file)"


def _words(text: str) -> list[str] | None:
    """'a, b c' -> ['a', 'b c'] (comma-separated; tier names may hold spaces); '' -> None."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return parts or None


def _with_browse(edit: QLineEdit, on_click) -> QWidget:
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(edit, 1)
    button = QPushButton("Browse...")
    button.clicked.connect(on_click)
    row.addWidget(button)
    return box


class ImportAnnotationsDialog(QDialog):
    """Choose a file and how to read it; Preview shows what it gives; Import applies it."""

    def __init__(self, window, path: str = ""):
        super().__init__(window)
        self.w = window
        self.setWindowTitle("Import annotations")
        self.setMinimumWidth(560)
        self.imported: af.Imported | None = None
        form = QFormLayout()
        self.path_edit = QLineEdit(path)
        self.path_edit.setObjectName("import_path")
        form.addRow("File", _with_browse(self.path_edit, self._browse))
        self.kind = QComboBox()
        self.kind.addItems(["Point labels", "Reference intervals"])
        form.addRow("Import as", self.kind)
        self.format = QComboBox()
        self.format.addItems(list(af.FORMATS))
        form.addRow("Format", self.format)
        self.tiers = QLineEdit()
        self.tiers.setPlaceholderText("ELAN: tiers to read, comma-separated (default: all but apex tiers)")
        form.addRow("Tiers", self.tiers)
        self.apex_tier = QLineEdit()
        self.apex_tier.setPlaceholderText("ELAN: tier marking apexes (default: tiers named '... apex')")
        form.addRow("Apex tier", self.apex_tier)
        self.mapping = QLineEdit()
        self.mapping.setObjectName("import_mapping")
        self.mapping.setPlaceholderText("smile=MaE, twitch=ME, blink=-   (words or behaviours -> class)")
        form.addRow("Map words", self.mapping)
        self.columns = QLineEdit()
        self.columns.setPlaceholderText("table: video=Filename, class=Type, frame=Apex")
        form.addRow("Columns", self.columns)
        self.sheet = QLineEdit()
        self.sheet.setPlaceholderText("workbook sheet (default: the first)")
        form.addRow("Sheet", self.sheet)
        self.first_frame = QSpinBox()
        self.first_frame.setRange(0, 1)
        form.addRow("Table's first frame", self.first_frame)
        self.video = QComboBox()
        self.video.addItem(FROM_FILE)
        if window.project is not None:
            self.video.addItems(list(window.project.videos))
        form.addRow("Video", self.video)
        self.summary = QLabel("Choose a file, then Preview.")
        self.summary.setWordWrap(True)
        self.summary.setObjectName("import_summary")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.preview_button = buttons.addButton("Preview", QDialogButtonBox.ButtonRole.ActionRole)
        self.import_button = buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.preview_button.clicked.connect(self.preview)
        self.import_button.clicked.connect(self.import_now)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.summary)
        layout.addWidget(buttons)
        for edit in (self.path_edit, self.tiers, self.apex_tier, self.mapping, self.columns, self.sheet):
            edit.textChanged.connect(self._stale)
        for combo in (self.kind, self.format, self.video):
            combo.currentIndexChanged.connect(self._stale)
        self.first_frame.valueChanged.connect(self._stale)

    @property
    def intervals(self) -> bool:
        return self.kind.currentIndex() == 1

    def _browse(self) -> None:
        path = dialogs.get_open_file(self, "Annotation file", FILE_FILTER)
        if path:
            self.path_edit.setText(path)
            self.preview()

    def _stale(self, *_args) -> None:
        self.imported = None

    def read(self) -> af.Imported:
        """Read the file with the chosen options (PfesError naming file and row on a problem)."""
        path = self.path_edit.text().strip()
        if not path:
            raise PfesError("choose a file to import")
        if self.format.currentText() == "eaf" or path.lower().endswith(".eaf"):
            try:
                self.tiers.setToolTip("Tiers in this file: " + ", ".join(af.eaf_tiers(path)))
            except PfesError:
                pass
        video = self.video.currentText()
        return af.read_annotations(
            path, self.w.project, self.format.currentText(), intervals=self.intervals,
            annotator=self.w.annotator or "", now=time.time(), tiers=_words(self.tiers.text()),
            apex_tier=self.apex_tier.text().strip() or None,
            mapping=af.parse_mapping([self.mapping.text()]),
            columns=af.parse_columns([self.columns.text()]), sheet=self.sheet.text().strip() or None,
            first_frame=self.first_frame.value(), video=None if video == FROM_FILE else video)

    def preview(self) -> bool:
        try:
            self.imported = self.read()
        except (PfesError, OSError) as exc:
            self.imported = None
            self.summary.setText(f"Cannot import: {exc}")
            return False
        self.summary.setText(describe(self.imported, self.intervals, set(self.w.project.videos)))
        return True

    def import_now(self) -> None:
        if self.imported is None and not self.preview():
            return
        if apply_import(self.w, self.imported, self.intervals, self.path_edit.text()):
            self.accept()


def describe(imported: af.Imported, intervals: bool, known: set[str]) -> str:
    """One line a person can check before importing: counts per class, videos, what is skipped."""
    items = [x for _w, x in (imported.intervals if intervals else imported.points)]
    kept = [x for x in items if x.video in known]
    per_class = Counter(x.cls for x in kept)
    what = "reference intervals" if intervals else "point labels"
    text = (f"{imported.format}: {len(kept)} {what} ("
            + ", ".join(f"{c} {per_class.get(c, 0)}" for c in CLASSES)
            + f") in {len({x.video for x in kept})} videos")
    if len(items) > len(kept):
        unknown = sorted({x.video for x in items} - known)
        text += f"; {len(items) - len(kept)} of videos not in the project skipped ({', '.join(unknown[:3])})"
    if imported.ignored:
        text += f"; {imported.ignored} annotations not mapped to MaE or ME passed over"
    return text


def apply_import(window, imported: af.Imported, intervals: bool, source: str) -> bool:
    """Write what was read: point labels as one undoable edit, intervals as the videos' reference."""
    project = window.project
    name = Path(source).name
    if intervals:
        kept = [iv for _w, iv in imported.intervals if iv.video in project.videos]
        if not kept:
            dialogs.error(window, "Nothing to import", f"{name} has no intervals of this project's videos.")
            return False
        return set_reference_intervals(window, kept, name)
    kept = [lb for _w, lb in imported.points if lb.video in project.videos]
    if not kept:
        dialogs.error(window, "Nothing to import", f"{name} has no point labels of this project's videos.")
        return False
    return add_point_labels(window, kept, name)


def add_point_labels(window, labels: list, name: str) -> bool:
    """Point labels as one undoable edit (those already present are skipped); a refusal is a dialog."""
    edit = BulkImport(labels, skip_existing=True)
    try:
        push_edit(window.undo_stack, window.project, edit, window.labelling.edit_applied,
                  window.saver.wait_for_save, on_error=window.edit_failed)
    except (PfesError, OSError) as exc:
        dialogs.error(window, "Cannot import labels", str(exc))
        return False
    added = len(getattr(edit, "added", labels))
    skipped = len(labels) - added
    window.show_status(f"Imported {added} point labels from {name}"
                       + (f" ({skipped} already present)" if skipped else ""), 8000)
    return True


def set_reference_intervals(window, intervals: list, name: str) -> bool:
    """Intervals become their videos' reference (not an undoable edit: reference is not labelling)."""
    try:
        window.saver.wait_for_save()
        window.project.set_reference(intervals)
    except (PfesError, OSError) as exc:
        dialogs.error(window, "Cannot import reference intervals", str(exc))
        return False
    window.saver.mark_dirty()
    if window.current_video_id is not None:
        window.timeline.set_reference(window.project.reference.get(window.current_video_id, []))
    window.show_status(f"Imported {len(intervals)} reference intervals from {name}")
    return True


class ImportDatasetDialog(QDialog):
    """Which dataset, where it is, where the project goes, and how point labels are drawn."""

    def __init__(self, window):
        from pfes_core.datasets import DATASETS, POINT_MODES, TITLES

        super().__init__(window)
        self.setWindowTitle("Import dataset")
        self.setMinimumWidth(560)
        form = QFormLayout()
        self.dataset = QComboBox()
        for key in DATASETS:
            self.dataset.addItem(TITLES[key], key)
        form.addRow("Dataset", self.dataset)
        self.root = QLineEdit()
        self.root.setPlaceholderText("the folder holding the dataset's annotation workbook")
        form.addRow("Dataset folder", _with_browse(self.root, self._browse_root))
        self.project = QLineEdit()
        self.project.setPlaceholderText("the new project folder (NAME.pfes)")
        form.addRow("New project", _with_browse(self.project, self._browse_project))
        self.subjects = QLineEdit()
        self.subjects.setPlaceholderText("all (or ids/numbers, comma-separated: 15, 16)")
        form.addRow("Subjects", self.subjects)
        self.points = QComboBox()
        self.points.addItems(list(POINT_MODES))
        self.points.setToolTip("one point label per interval: its apex, or a frame sampled around "
                               "the apex (seeded), as point-supervision studies do")
        form.addRow("Point labels", self.points)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2 ** 31 - 1)
        form.addRow("Seed (sampled)", self.seed)
        self.step = QSpinBox()
        self.step.setRange(0, 100)
        self.step.setSpecialValueText("dataset default")
        form.addRow("Analyse every N-th frame", self.step)
        self.open_after = QCheckBox("Open the project when done")
        self.open_after.setChecked(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        buttons.accepted.connect(self._check_and_accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.open_after)
        layout.addWidget(buttons)

    def _browse_root(self) -> None:
        path = dialogs.get_existing_dir(self, "Dataset folder")
        if path:
            self.root.setText(path)

    def _browse_project(self) -> None:
        path = dialogs.get_save_file(self, "New project folder", "Projects (*.pfes)")
        if path:
            self.project.setText(path)

    def _check_and_accept(self) -> None:
        if not self.root.text().strip() or not self.project.text().strip():
            dialogs.error(self, "Import dataset", "Choose the dataset folder and the new project's folder.")
            return
        self.accept()

    def options(self) -> dict:
        return {"dataset": self.dataset.currentData(), "root": self.root.text().strip(),
                "project_dir": self.project.text().strip(), "subjects": _words(self.subjects.text()),
                "step": self.step.value() or None, "points": self.points.currentText(),
                "seed": self.seed.value()}


class _Relay(QObject):
    """Carries progress from the import thread to the GUI thread (a queued signal)."""

    progress = Signal(int, int, str)


class ImportController:
    """The two File menu entries and the background dataset import."""

    def __init__(self, window):
        self.w = window
        self._tasks: set[asyncio.Task] = set()
        self._cancel = False

    def install_actions(self) -> None:
        w = self.w
        menu = w.file_menu
        anchor = w.actions.get("file.import_reference")
        for action_id, callback in (("file.import_annotations", self.import_annotations_dialog),
                                    ("file.import_dataset", self.import_dataset_dialog)):
            action = w.register_action(action_id, callback)
            if anchor is not None:
                following = _action_after(menu, anchor)
                menu.insertAction(following, action) if following is not None else menu.addAction(action)
                anchor = action
            else:
                menu.addAction(action)
        w.project_changed.connect(self.update_enabled)
        self.update_enabled()

    def update_enabled(self) -> None:
        self.w.actions["file.import_annotations"].setEnabled(self.w.project is not None
                                                              and not self.w.readonly())

    def import_annotations_dialog(self) -> None:
        if self.w.project is None or self.w.readonly():
            return
        ImportAnnotationsDialog(self.w).exec()

    def import_dataset_dialog(self) -> None:
        dialog = ImportDatasetDialog(self.w)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.start_dataset_import(dialog.options(), open_after=dialog.open_after.isChecked())

    def start_dataset_import(self, options: dict, open_after: bool = True) -> asyncio.Task:
        task = asyncio.get_event_loop().create_task(self._import_dataset(options, open_after))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _import_dataset(self, options: dict, open_after: bool):
        from pfes_core.datasets import TITLES, import_dataset

        w = self.w
        title = TITLES.get(options["dataset"], options["dataset"])
        box = dialogs.ProgressDialog(w, "Import dataset", f"Reading {title} from {options['root']}...")
        relay = _Relay()
        relay.progress.connect(lambda k, n, text: box.set_progress(k + 1, n, f"{title}: {text} ({k + 1}/{n})"))
        self._cancel = False
        box.canceled.connect(self._request_cancel)
        box.show()

        def progress(k, n, text):
            if self._cancel:
                raise CancelledError("dataset import cancelled")
            relay.progress.emit(int(k), int(n), str(text))

        try:
            summary = await run_in_thread(lambda: import_dataset(progress=progress, **options))
        except CancelledError:
            w.show_status("Dataset import cancelled; nothing was written", 8000)
            return None
        except (PfesError, OSError) as exc:
            dialogs.error(w, "Cannot import the dataset", f"{exc}\n\nNothing was written.")
            return None
        finally:
            box.finish()
        w.show_status(f"Imported {title}: {len(summary.videos)} videos into {summary.project}", 10000)
        if open_after:
            w.projects.open_project(summary.project)
        dialogs.info(w, "Dataset imported", "\n".join(summary.lines()))
        return summary

    def _request_cancel(self) -> None:
        self._cancel = True


def _action_after(menu, action):
    actions = menu.actions()
    if action in actions:
        i = actions.index(action)
        return actions[i + 1] if i + 1 < len(actions) else None
    return None


def install(window) -> ImportController:
    controller = ImportController(window)
    controller.install_actions()
    window.importer = controller
    return controller

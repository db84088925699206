"""The Agreement dock: how two annotators agree (pfes_core.agreement) and the adjudication list.

Top: the figures of every annotator pair, per video and overall (matched labels, precision and
recall of B against A, F1, MaE/ME conflicts, median offset), for a tolerance in frames or
milliseconds. Below: the disagreements of the chosen pair A and B (pfes_core.adjudication), each
row jumping to its frame when selected. Resolving one writes the consensus layer through the
window's undo stack (``push_edit``), so it is journaled and undoable like any label edit:
keep A's label, keep B's, put one halfway (an offset), or reject (no expression there).
"Accept agreements" adds every agreed pair to the consensus layer as one undoable step.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDockWidget, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from pfes_core import adjudication as adj
from pfes_core.agreement import DEFAULT_TOLERANCE, label_agreement
from pfes_core.errors import PfesError
from pfes_core.labels import CONSENSUS, annotator_title

AGREEMENT_HEIGHT_SHARE = 0.32   # of the window's height, when the dock opens
FRAME_MIN_USEFUL = 160          # px of frame view below which the dock goes beside the Annotators
SUMMARY_COLUMNS = ("A vs B", "video", "A", "B", "matched", "precision", "recall", "F1", "MaE/ME", "median offset")
ITEM_COLUMNS = ("video", "frame", "kind", "what", "resolution")


def _num(x, fmt="{:.3f}") -> str:
    return "-" if x is None else fmt.format(x)


class AgreementView(QWidget):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.items: list[adj.Disagreement] = []
        self.report = None
        box = QVBoxLayout(self)

        row = QHBoxLayout()
        row.addWidget(QLabel("Tolerance:"))
        self.tolerance = QSpinBox()
        self.tolerance.setObjectName("agreement_tolerance")
        self.tolerance.setRange(0, 10_000)
        self.tolerance.setValue(DEFAULT_TOLERANCE)
        row.addWidget(self.tolerance)
        self.unit = QComboBox()
        self.unit.setObjectName("agreement_unit")
        self.unit.addItems(["frames", "ms"])
        row.addWidget(self.unit)
        row.addWidget(QLabel("A:"))
        self.a = QComboBox()
        self.a.setObjectName("agreement_a")
        row.addWidget(self.a, 1)
        row.addWidget(QLabel("B:"))
        self.b = QComboBox()
        self.b.setObjectName("agreement_b")
        row.addWidget(self.b, 1)
        box.addLayout(row)
        for widget in (self.tolerance, self.unit, self.a, self.b):
            signal = widget.valueChanged if isinstance(widget, QSpinBox) else widget.currentIndexChanged
            signal.connect(self.schedule)

        self.summary = QTableWidget(0, len(SUMMARY_COLUMNS))
        self.summary.setObjectName("agreement_summary")
        self.summary.setHorizontalHeaderLabels(SUMMARY_COLUMNS)
        self.summary.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.summary.verticalHeader().setVisible(False)
        box.addWidget(self.summary, 1)

        self.note = QLabel()
        self.note.setObjectName("agreement_note")
        self.note.setWordWrap(True)
        box.addWidget(self.note)
        self.table = QTableWidget(0, len(ITEM_COLUMNS))
        self.table.setObjectName("disagreements")
        self.table.setHorizontalHeaderLabels(ITEM_COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        # one line per disagreement, the description taking the room left (it was cut in two)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        for c in range(len(ITEM_COLUMNS)):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(ITEM_COLUMNS.index("what"), QHeaderView.ResizeMode.Stretch)
        self.summary.horizontalHeader().setStretchLastSection(True)
        for table in (self.summary, self.table):      # they scroll: the dock fits a 720 px screen
            table.setMinimumHeight(56)
        self.table.currentCellChanged.connect(lambda r, *_: self.jump(r))
        box.addWidget(self.table, 2)

        row = QHBoxLayout()
        self.buttons = {}
        for key, text, tip in (("keep_a", "Keep A", "put A's label into the consensus layer"),
                               ("keep_b", "Keep B", "put B's label into the consensus layer"),
                               ("midpoint", "Midpoint", "one consensus label halfway between (same class)"),
                               ("reject", "Reject", "no expression here: neither label goes into consensus"),
                               ("accept_all", "Accept agreements",
                                "add every agreed pair (within half the tolerance) to the consensus layer")):
            button = QPushButton(text)
            button.setObjectName(f"adjudicate_{key}")
            button.setToolTip(tip)
            button.clicked.connect(lambda _c=False, k=key: self.resolve(k))
            row.addWidget(button)
            self.buttons[key] = button
        box.addLayout(row)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.refresh)

    # ---- computing ---------------------------------------------------------------------------
    def schedule(self, *_args) -> None:
        if not getattr(self, "_filling", False):
            self._timer.start()

    def _tolerance_args(self) -> dict:
        value = self.tolerance.value()
        return {"tolerance_ms": float(value)} if self.unit.currentText() == "ms" else {"tolerance": value}

    def fill_annotators(self) -> None:
        project = self.w.project
        names = [a for a in project.labels.annotators()] if project is not None else []
        self._filling = True
        try:
            for combo, default in ((self.a, 0), (self.b, 1)):
                keep = combo.currentData()
                combo.clear()
                for name in names:
                    combo.addItem(annotator_title(name), name)
                others = [n for n in names if n != CONSENSUS]
                want = keep if keep in names else (others[default] if len(others) > default else None)
                if combo is self.b and want is not None and want == self.a.currentData():
                    # B fell back on A while only one coder had labels: take the newcomer
                    want = next((n for n in others if n != want), want)
                if want is not None:
                    combo.setCurrentIndex(names.index(want))
        finally:
            self._filling = False

    def refresh(self) -> None:
        """Recompute the figures and the review list (after every edit, and when a choice changes)."""
        project = self.w.project
        self.summary.setRowCount(0)
        self.table.setRowCount(0)
        self.items = []
        if project is None:
            self.note.setText("Open a project to compare annotators.")
            return
        if self.a.count() != len(project.labels.annotators()):
            self.fill_annotators()
        try:
            self.report = label_agreement(project, **self._tolerance_args())
        except PfesError as exc:
            self.note.setText(str(exc))
            return
        for a, b in self.report.pairs():
            rows = list(self.report.per_video[(a, b)].items()) + [("overall", self.report.overall(a, b))]
            for video, c in rows:
                self._add_row(self.summary, [f"{annotator_title(a)} vs {annotator_title(b)}", video, c.n_a, c.n_b,
                                             c.matched, _num(c.precision), _num(c.recall), _num(c.f1),
                                             c.class_disagreements, _num(c.median_offset, "{:+.1f}")])
        self.summary.resizeColumnsToContents()
        a, b = self.a.currentData(), self.b.currentData()
        if a is None or b is None or a == b:
            self.note.setText("Choose two different annotators A and B to adjudicate "
                              f"({len(project.labels.annotators())} layers with labels).")
            return
        self.items = adj.disagreements(project, a, b, self.report.tolerance_of)
        unresolved = 0
        for d in self.items:
            res = adj.resolution(project, d, self.report.tolerance_of)
            unresolved += res is None
            self._add_row(self.table, [d.video, d.frame, d.kind, d.describe(), res or "open"])
        self.note.setText(f"{annotator_title(a)} (A) vs {annotator_title(b)} (B): {len(self.items)} "
                          f"disagreements, {unresolved} open. Resolving writes the '{CONSENSUS}' layer "
                          f"(Ctrl+Z undoes).")

    @staticmethod
    def _add_row(table: QTableWidget, values) -> None:
        r = table.rowCount()
        table.insertRow(r)
        for c, value in enumerate(values):
            item = QTableWidgetItem(str(value))
            item.setToolTip(str(value))
            if isinstance(value, int):
                item.setData(Qt.ItemDataRole.DisplayRole, value)
            table.setItem(r, c, item)

    # ---- acting ------------------------------------------------------------------------------
    def jump(self, row: int) -> None:
        if 0 <= row < len(self.items):
            d = self.items[row]
            self.w.go_to_frame(d.video, d.frame)

    def select(self, row: int) -> None:
        self.table.setCurrentCell(row, 0)

    def resolve(self, key: str) -> bool:
        """Apply one adjudication to the selected row (or accept all agreements) via the undo stack."""
        w, project = self.w, self.w.project
        if project is None or w.readonly() or self.report is None:
            return False
        a, b = self.a.currentData(), self.b.currentData()
        if key == "accept_all":
            if a is None or b is None or a == b:
                return False
            return w.push_edit(adj.accept_agreements_edit(project, a, b, self.report.tolerance_of, now=time.time()))
        row = self.table.currentRow()
        if not 0 <= row < len(self.items):
            w.show_status("Select a disagreement first", 3000)
            return False
        d = self.items[row]
        try:
            if key == "reject":
                edit = adj.RejectForConsensus(d.labels)
            elif key == "midpoint":
                edit = adj.midpoint_edit(d)
            else:
                label = d.label_a if key == "keep_a" else d.label_b
                if label is None:
                    w.show_status(f"{'A' if key == 'keep_a' else 'B'} has no label here", 4000)
                    return False
                edit = adj.keep_edit(label)
        except PfesError as exc:
            w.show_status(str(exc), 5000)
            return False
        ok = w.push_edit(edit)
        if ok and row + 1 < self.table.rowCount():
            self.select(row + 1)
        return ok


class AgreementController(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.view = AgreementView(window)
        dock = QDockWidget("Agreement", window)
        dock.setObjectName("agreement_dock")
        dock.setWidget(self.view)
        window.add_dock(dock, Qt.DockWidgetArea.BottomDockWidgetArea)
        dock.hide()    # shown from View -> Agreement between annotators
        self.dock = dock
        window.project_changed.connect(self._project_changed)
        window.labels_changed.connect(self.view.schedule)
        dock.visibilityChanged.connect(lambda shown: shown and self.view.refresh())
        self.window = window
        action = dock.toggleViewAction()
        # placed when the user opens it (not when a saved layout is restored or a tab changes)
        action.triggered.connect(lambda checked: checked and QTimer.singleShot(0, self._fit_height))
        action.setText("Agreement between annotators")
        action.setObjectName("view.agreement")
        menu = getattr(window, "view_menu", None)
        if menu is not None:
            menu.addAction(action)
        window.actions["view.agreement"] = action

    def _fit_height(self) -> None:
        """Opened under the frame and timeline, the dock takes about a third of the window's
        height (Qt gave it half, and the frame shrank to a stamp). In a window too short for
        that (a 1280x720 screen) it becomes a tab beside the Annotators dock instead, so the
        face stays large enough to adjudicate."""
        dock, w = self.dock, self.window
        if dock.isFloating() or not dock.isVisible() \
                or w.dockWidgetArea(dock) != Qt.DockWidgetArea.BottomDockWidgetArea:
            return
        share = max(int(w.height() * AGREEMENT_HEIGHT_SHARE), dock.minimumSizeHint().height())
        column = w.centralWidget().height() + dock.height()
        frame_left = column - share - w.timeline.minimumSizeHint().height() - 40   # caption, handles
        beside = getattr(w, "layers_dock", None)
        if frame_left < FRAME_MIN_USEFUL and beside is not None and not beside.isFloating():
            w.addDockWidget(w.dockWidgetArea(beside), dock)
            w.tabifyDockWidget(beside, dock)
            dock.raise_()
        elif dock.height() > share + 20:
            w.resizeDocks([dock], [share], Qt.Orientation.Vertical)

    def _project_changed(self) -> None:
        self.view.fill_annotators()
        self.view.schedule()


def install(window) -> AgreementController:
    existing = getattr(window, "agreement", None)
    if isinstance(existing, AgreementController):
        return existing
    window.agreement = AgreementController(window)
    return window.agreement

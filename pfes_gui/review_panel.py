"""The review dock: every proposal of the shown run in a sortable table, and the review queue.

Why one table over all videos (not per video): the reviewer sorts by score and works from the
top, across videos; selecting a row jumps the main window to the proposal's apex. Decisions are
undoable project edits (review_commands.py). The queue lists, first, 6 s stretches to scan whole
("Scan whole", look_queue.py: S steps through them, X marks one scanned; the review that came
out best where the benchmark compared several, and offered before any model is trained), then
the model's low-scored candidate runs no proposal passed ("Look here": K steps through them, X
says nothing is there), likely misses (proposals nobody labelled) and suspicious labels (labels
the model sees no motion at), each jumping to its frame. A group keeps the folding the annotator
gave it when the queue is rebuilt after an edit.
An adjusted proposal shows the reviewer's boundaries in its Onset/Apex/Offset cells ("104 -> 107"),
sorted by the adjusted value. Proposals of the label-free first pass (the motion baseline, shown
before any model is trained) are named as such in the summary line.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QDockWidget, QHBoxLayout,
                               QHeaderView, QLabel, QPushButton, QSpinBox, QTableView,
                               QTabWidget, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from pfes_core.reviews import other_class_labels
from pfes_core.scan_stretches import SCAN_SECONDS
from pfes_core.types import Interval

from . import class_color, shortcuts
from .look_queue import LookQueue
from .review_commands import (ACCEPTED, ADJUSTED, REJECTED, SETTLED, apply_review,
                              decision_link, describe, likely_misses, review_state,
                              suspicious_labels)

COLUMNS = ("Video", "Class", "Onset", "Apex", "Offset", "Score", "Status")
COL_VIDEO, COL_CLASS, COL_ONSET, COL_APEX, COL_OFFSET, COL_SCORE, COL_STATUS = range(len(COLUMNS))
ROLE_PROPOSAL = Qt.ItemDataRole.UserRole + 1
ROLE_LOOK = Qt.ItemDataRole.UserRole + 2
ROLE_STRETCH = Qt.ItemDataRole.UserRole + 3
#: Rows of the "Look here" and "Scan whole" groups drawn at most (the count says how many there are).
MAX_LOOK_ROWS = 200
NO_RUN_TEXT = ("No proposals yet. Model -> Spot: before any model is trained it shows motion "
               "proposals (features needed: Model -> Extract features) to review; "
               "Model -> Retrain once there are labels.")
STATUS_COLORS = {ACCEPTED: "#59a14f", ADJUSTED: "#59a14f", REJECTED: "#e15759"}
#: The Status cell of a proposal accepted as the other class ("as ME"), and of a carried decision.
AS_OTHER, AS_OTHER_PREFIX, EARLIER = "as other", "as ", " (earlier run)"


def status_text(state: str | None, note: str, other: str | None = None) -> str:
    """The Status cell: this run's decision as is; one carried from an earlier run or a label
    inside ("labelled") marked so, since 'Next unreviewed' and U step over them. `other`: a
    rejection with a label of the other class inside reads "as MaE" (accepted as the other class)."""
    if state == SETTLED:
        return "labelled"
    if state == REJECTED and other:
        state = f"{AS_OTHER_PREFIX}{other}"
    if state is not None and note:
        return f"{state}{EARLIER}"
    return state or ""


def _group_name(item: QTreeWidgetItem) -> str:
    """A queue group's name without its count ("Scan whole", "Likely misses"), to keep its folding."""
    return item.text(0).split(":")[0].split(" (")[0]


def _key(p: Interval) -> tuple:
    return (p.video, p.cls, p.onset, p.offset)


class _ProposalFilter(QSortFilterProxyModel):
    """Optional filters: current video only, unreviewed only."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.video: str | None = None
        self.unreviewed_only = False

    def filterAcceptsRow(self, row, parent) -> bool:
        model = self.sourceModel()
        if self.video is not None and model.item(row, COL_VIDEO).text() != self.video:
            return False
        if self.unreviewed_only and model.item(row, COL_STATUS).text():
            return False
        return True


class ReviewPanel(QDockWidget):
    """Proposal table + accept/reject/adjust + review queue, bound to a MainWindow."""

    decision_made = Signal()

    def __init__(self, main_window, parent: QWidget | None = None):
        super().__init__("Review", parent or main_window)
        self.setObjectName("ReviewPanel")
        self.mw = main_window
        self.run_id: str | None = None
        self.origin: str | None = None      # set for proposals no trained model made
        self.predictions: dict = {}
        self._rows: dict[tuple, int] = {}
        self._syncing = False

        tabs = QTabWidget()
        # -- proposals tab
        page = QWidget()
        layout = QVBoxLayout(page)
        self.summary_label = QLabel(NO_RUN_TEXT)
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)
        filters = QHBoxLayout()
        self.current_only = QCheckBox("Current video only")
        self.unreviewed_only = QCheckBox("Unreviewed only")
        filters.addWidget(self.current_only)
        filters.addWidget(self.unreviewed_only)
        filters.addStretch(1)
        layout.addLayout(filters)

        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(COLUMNS)
        self.proxy = _ProposalFilter(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COL_SCORE, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)   # A/R/arrows belong to the shortcuts
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_VIDEO, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        layout.addWidget(self.table, 1)

        buttons = QHBoxLayout()
        self.accept_button = QPushButton("Accept (A)")
        self.reject_button = QPushButton("Reject (R)")
        self.other_button = QPushButton("Other class (C)")
        self.other_button.setToolTip("The movement is real, the class is wrong: reject the proposal's "
                                     "class and label the other class at its apex")
        self.clear_button = QPushButton("Clear")
        self.next_button = QPushButton("Next unreviewed")
        self.accept_button.clicked.connect(self.accept_current)
        self.reject_button.clicked.connect(self.reject_current)
        self.other_button.clicked.connect(self.other_class_current)
        self.clear_button.clicked.connect(self.clear_current)
        self.next_button.clicked.connect(self.next_unreviewed)
        for b in (self.accept_button, self.reject_button, self.other_button, self.clear_button,
                  self.next_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            buttons.addWidget(b)
        layout.addLayout(buttons)

        adjust = QHBoxLayout()
        self.onset_box, self.apex_box, self.offset_box = QSpinBox(), QSpinBox(), QSpinBox()
        for name, box in (("onset", self.onset_box), ("apex", self.apex_box),
                          ("offset", self.offset_box)):
            box.setRange(0, 10 ** 7)    # not the video's end: a box bounded there refused the digit
            shortcuts.return_keys_on_commit(box, self.mw.centralWidget())   # past it (400 read as 40)
            adjust.addWidget(QLabel(name))
            adjust.addWidget(box)
        self.adjust_button = QPushButton("Adjust")
        self.adjust_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.adjust_button.setToolTip("Accept the selected proposal with these boundaries")
        self.adjust_button.clicked.connect(self.adjust_current)
        adjust.addWidget(self.adjust_button)
        layout.addLayout(adjust)
        self.note_label = QLabel("")         # what the last decision did beyond the obvious
        self.note_label.setObjectName("review_note")
        self.note_label.setWordWrap(True)
        layout.addWidget(self.note_label)
        tabs.addTab(page, "Proposals")

        # -- queue tab
        qpage = QWidget()
        qlayout = QVBoxLayout(qpage)
        hint = QLabel("Double-click a row to jump there. Scan whole: S for the next stretch, M or E "
                      "at every expression in it, X when done. Look here: K for the next one, M or E "
                      "at an expression, X if there is none.")
        hint.setWordWrap(True)
        qlayout.addWidget(hint)
        look_buttons = QHBoxLayout()
        self.next_stretch_button = QPushButton("Next stretch (S)")
        self.next_stretch_button.clicked.connect(lambda: self.looks.next_stretch())
        self.next_look_button = QPushButton("Next look (K)")
        self.next_look_button.clicked.connect(lambda: self.looks.next_look())
        self.nothing_button = QPushButton("Done / nothing here (X)")
        self.nothing_button.clicked.connect(lambda: self.looks.nothing_here())
        look_buttons.addWidget(self.next_stretch_button)
        look_buttons.addWidget(self.next_look_button)
        look_buttons.addWidget(self.nothing_button)
        look_buttons.addStretch(1)
        qlayout.addLayout(look_buttons)
        self.queue = QTreeWidget()
        self.queue.setHeaderLabels(("What", "Video", "Frame", "Class", "Why"))
        self.queue.setToolTip("Hover a row for its whole text")
        self.queue.setRootIsDecorated(True)
        self.queue.itemDoubleClicked.connect(self._queue_jump)
        self.queue.itemActivated.connect(self._queue_jump)
        qlayout.addWidget(self.queue, 1)
        tabs.addTab(qpage, "Review queue")
        self.tabs = tabs
        self.setWidget(tabs)
        self.looks = LookQueue(main_window)

        self.current_only.toggled.connect(self._filters_changed)
        self.unreviewed_only.toggled.connect(self._filters_changed)
        main_window.labels_changed.connect(self.refresh_statuses)
        main_window.video_changed.connect(self._video_changed)
        main_window.timeline.proposal_span_edited.connect(self._span_dragged)
        main_window.timeline.proposal_focused.connect(lambda p: self.select(p, jump=False))
        self._update_buttons()

    # ------------------------------------------------------------------------ data in
    def set_run(self, run_id: str | None, predictions: dict, origin: str | None = None) -> None:
        """Show the proposals of `run_id` ({video: Predictions}); None clears the table.
        ``origin`` names proposals no trained model made (the motion baseline)."""
        self.run_id = run_id
        self.origin = origin
        self.looks.set_run(run_id, predictions, origin)
        self.note_label.setText("")
        self.predictions = dict(predictions or {})
        self.model.removeRows(0, self.model.rowCount())
        self._rows.clear()
        project = self.mw.project
        self.table.setSortingEnabled(False)
        for video, pred in self.predictions.items():
            for p in pred.proposals:
                self._rows[_key(p)] = self.model.rowCount()
                status, adjusted, note = review_state(project, run_id, p)
                self.model.appendRow(self._make_row(p, status, note))
                self._show_bounds(self._rows[_key(p)], p, adjusted)
        self.table.setSortingEnabled(True)
        self._filters_changed()
        self.refresh_queue()
        self._update_summary()
        self._update_buttons()
        self._sync_edit_span()

    def _make_row(self, p: Interval, status: str | None, note: str = "") -> list[QStandardItem]:
        def item(text, sort_value):
            it = QStandardItem(str(text))
            it.setData(sort_value, Qt.ItemDataRole.UserRole)
            return it

        score = p.score if p.score is not None else float("nan")
        row = [item(p.video, p.video), item(p.cls, p.cls), item(p.onset, p.onset),
               item(p.apex, p.apex), item(p.offset, p.offset),
               item("" if p.score is None else f"{p.score:.3f}",
                    score if p.score is not None else -1.0),
               item("", "")]
        row[COL_CLASS].setForeground(QBrush(QColor(class_color(p.cls))))
        row[0].setData(p, ROLE_PROPOSAL)
        self._style_status(row[COL_STATUS], status, note, self._other_label(p, status))
        return row

    def _show_bounds(self, row: int, p: Interval, adjusted: tuple[int, int, int] | None) -> None:
        """Onset/Apex/Offset cells: the proposal's frames, or 'proposed -> adjusted' where the
        reviewer moved them (`adjusted`, from `review_state`; sorted by the value in force)."""
        for col, k, value in ((COL_ONSET, 0, p.onset), (COL_APEX, 1, p.apex),
                              (COL_OFFSET, 2, p.offset)):
            item = self.model.item(row, col)
            now = adjusted[k] if adjusted is not None else value
            text = f"{value} \u2192 {now}" if now != value else str(value)
            if item.text() != text:
                item.setText(text)
                item.setData(now, Qt.ItemDataRole.UserRole)
                item.setToolTip(f"proposed {value}, adjusted in review to {now}"
                                if now != value else "")

    def _other_label(self, p: Interval, status: str | None) -> str | None:
        """The class of the label a rejection stands with when the annotator accepted the proposal
        as the other class (a label of that class inside it); None otherwise."""
        if status != REJECTED or self.mw.project is None:
            return None
        inside = other_class_labels(self.mw.project.labels, p)
        return inside[0].cls if inside else None

    def _style_status(self, item: QStandardItem, status: str | None, note: str = "",
                      other: str | None = None) -> None:
        text = status_text(status, note, other)
        item.setText(text)
        item.setData(text, Qt.ItemDataRole.UserRole)
        item.setToolTip(note)
        color = QColor(STATUS_COLORS.get(ACCEPTED if other else status, "#aaaaaa"))
        if note:                       # carried or settled: not this run's decision
            color = color.darker(140)
        item.setForeground(QBrush(color))

    def refresh_statuses(self) -> None:
        """Re-read every decision from the project (after an edit, undo or redo)."""
        project = self.mw.project
        for key, row in self._rows.items():
            p = self.model.item(row, 0).data(ROLE_PROPOSAL)
            status, adjusted, note = review_state(project, self.run_id, p)
            item = self.model.item(row, COL_STATUS)
            other = self._other_label(p, status)
            if item.text() != status_text(status, note, other):
                self._style_status(item, status, note, other)
            self._show_bounds(row, p, adjusted)
        self.proxy.invalidate()
        self.refresh_queue()
        self._update_summary()
        self._sync_spinboxes()

    def refresh_queue(self) -> None:
        expanded = {_group_name(self.queue.topLevelItem(i)): self.queue.topLevelItem(i).isExpanded()
                    for i in range(self.queue.topLevelItemCount())}
        self.queue.clear()
        project = self.mw.project
        if project is None or not self.predictions:
            return
        self._add_stretch_rows(self.looks.stretches())      # model-free: any run, the motion baseline too
        if not self.origin:       # a trained run: its low-scored candidates
            self._add_look_rows(self.looks.looks())
        groups = (("Likely misses", likely_misses(project, self.run_id, self.predictions)),
                  ("Suspicious labels", suspicious_labels(project, self.predictions)))
        for title, items in groups:
            top = QTreeWidgetItem([f"{title} ({len(items)})"])
            self.queue.addTopLevelItem(top)
            for q in items:
                child = QTreeWidgetItem([q.kind, q.video, str(q.frame), q.cls, q.reason])
                child.setData(0, Qt.ItemDataRole.UserRole, (q.video, q.frame))
                whole = f"{q.kind} at {q.video} frame {q.frame} ({q.cls}): {q.reason}"
                for col in range(5):     # the Why column is cut in a narrow dock
                    child.setToolTip(col, whole)
                top.addChild(child)
            top.setExpanded(True)
        for i in range(self.queue.topLevelItemCount()):
            top = self.queue.topLevelItem(i)
            top.setExpanded(expanded.get(_group_name(top), top.isExpanded()))
        for col in range(4):
            self.queue.resizeColumnToContents(col)

    def _add_look_rows(self, looks: list[Interval]) -> None:
        heading = ("Look here: finding the model's low-scored candidates..." if self.looks.wanted
                   else f"Look here: not proposed ({len(looks)})")
        top = QTreeWidgetItem([heading])
        top.setToolTip(0, "The model's candidate runs that no proposal passed, highest score first: "
                          "places it nearly proposed (folded at first: Scan whole leads the desk)")
        self.queue.addTopLevelItem(top)
        for c in looks[:MAX_LOOK_ROWS]:
            why = f"candidate {c.onset}-{c.offset}, score {c.score or 0.0:.2f}"
            child = QTreeWidgetItem(["look", c.video, str(c.apex), c.cls, why])
            child.setData(0, Qt.ItemDataRole.UserRole, (c.video, c.apex))
            child.setData(0, ROLE_LOOK, c)
            for col in range(5):
                child.setToolTip(col, f"Look at {c.video} frames {c.onset}-{c.offset} (the model "
                                      f"leans {c.cls}): {why}")
            top.addChild(child)
        if len(looks) > MAX_LOOK_ROWS:
            top.addChild(QTreeWidgetItem([f"... {len(looks) - MAX_LOOK_ROWS} more (K reaches them)"]))
        top.setExpanded(False)

    def _add_stretch_rows(self, stretches: list[Interval]) -> None:
        top = QTreeWidgetItem([f"Scan whole: {SCAN_SECONDS:.0f} s stretches ({len(stretches)})"])
        top.setToolTip(0, "Stretches of the run's videos to play through, clicking every expression: "
                          "a sample that owes nothing to the model, videos taking turns")
        self.queue.addTopLevelItem(top)
        for st in stretches[:MAX_LOOK_ROWS]:
            why = f"frames {st.onset}-{st.offset}: every expression, then X"
            child = QTreeWidgetItem(["scan", st.video, str(st.onset), "", why])
            child.setData(0, Qt.ItemDataRole.UserRole, (st.video, st.onset))
            child.setData(0, ROLE_STRETCH, st)
            for col in range(5):
                child.setToolTip(col, f"Scan {st.video} frames {st.onset}-{st.offset}: {why}")
            top.addChild(child)
        if len(stretches) > MAX_LOOK_ROWS:
            top.addChild(QTreeWidgetItem([f"... {len(stretches) - MAX_LOOK_ROWS} more (S reaches them)"]))
        top.setExpanded(True)

    def _update_summary(self) -> None:
        if self.run_id is None:
            self.summary_label.setText(NO_RUN_TEXT)
            return
        counts = {ACCEPTED: 0, ADJUSTED: 0, REJECTED: 0, AS_OTHER: 0}
        settled = 0
        total = self.model.rowCount()
        for row in range(total):
            st = self.model.item(row, COL_STATUS).text()
            if st in counts:
                counts[st] += 1
            elif st.startswith(AS_OTHER_PREFIX) and not st.endswith(EARLIER):
                counts[AS_OTHER] += 1
            elif st:
                settled += 1
        done = sum(counts.values())
        what = (f"Proposals from the {self.origin}" if self.origin else f"Run {self.run_id}")
        if total == 0 and not self.origin:
            # a first training on a few labels can be confident nowhere; an empty table with
            # "0 reviewed" left the annotator no next step
            self.summary_label.setText(
                f"{what} proposed nothing: no candidate passed the score threshold and the class "
                f"gate. The Review queue tab has places to look (K: where the model came closest, "
                f"S: a stretch to scan whole); label the expressions you find, then Retrain.")
            return
        self.summary_label.setText(
            f"{what}: {total} proposals, {done} reviewed "
            f"({counts[ACCEPTED]} accepted, {counts[ADJUSTED]} adjusted, "
            f"{counts[REJECTED]} rejected"
            + (f", {counts[AS_OTHER]} as the other class" if counts[AS_OTHER] else "") + ")"
            + (f", {settled} already decided in an earlier run or labelled" if settled else ""))

    # ------------------------------------------------------------------------ selection
    def proposals(self) -> list[Interval]:
        """Proposals in the table's current (sorted, filtered) order."""
        return [self.proxy.index(r, 0).data(ROLE_PROPOSAL) for r in range(self.proxy.rowCount())]

    def selected(self) -> Interval | None:
        index = self.table.selectionModel().currentIndex()
        if not index.isValid():
            return None
        return self.proxy.index(index.row(), 0).data(ROLE_PROPOSAL)

    def select(self, proposal: Interval | None, jump: bool = True) -> None:
        """Select a proposal's row (clearing the filters if they hide it) and jump to its apex."""
        if proposal is None:
            self.table.selectionModel().clearCurrentIndex()
            self.table.clearSelection()
            return
        row = self._rows.get(_key(proposal))
        if row is None:
            return
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            self.current_only.setChecked(False)
            self.unreviewed_only.setChecked(False)
            index = self.proxy.mapFromSource(self.model.index(row, 0))
        self._syncing = not jump
        try:
            self.table.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)
        finally:
            self._syncing = False
        self.table.scrollTo(index)

    def current(self) -> Interval | None:
        """The proposal A/R act on: the one under the playhead (the selected one if several
        overlap it, else the nearest apex), otherwise the selected row."""
        selected = self.selected()
        video = self.mw.current_video_id
        pred = self.predictions.get(video) if video is not None else None
        if pred is not None:
            frame = int(getattr(self.mw, "current_frame", 0))
            here = [p for p in pred.proposals if p.onset <= frame <= p.offset]
            if here:
                if selected is not None and any(_key(selected) == _key(p) for p in here):
                    return selected
                return min(here, key=lambda p: (abs(p.apex - frame), -(p.score or 0.0)))
        return selected

    def _row_changed(self, current, _previous) -> None:
        self._sync_spinboxes()
        self._update_buttons()
        if self._syncing or not current.isValid():
            return
        p = self.proxy.index(current.row(), 0).data(ROLE_PROPOSAL)
        if p is not None:
            self.mw.go_to_frame(p.video, p.apex)

    def _sync_spinboxes(self) -> None:
        p = self.selected()
        if p is None:
            self._sync_edit_span()
            return
        on, ap, off = review_state(self.mw.project, self.run_id, p)[1] or (p.onset, p.apex, p.offset)
        for box, value in ((self.onset_box, on), (self.apex_box, ap), (self.offset_box, off)):
            box.setValue(int(value))
        self._sync_edit_span()

    def _sync_edit_span(self) -> None:
        """Draggable edges on the timeline for the selected proposal (when its video is shown)."""
        timeline = self.mw.timeline
        p = self.selected()
        writable = self.mw.project is not None and not getattr(self.mw.project, "readonly", False)
        if p is None or not writable or self.run_id is None or p.video != self.mw.current_video_id:
            timeline.hide_edit_span()
            return
        timeline.show_edit_span(p, self.onset_box.value(), self.offset_box.value())

    def _span_dragged(self, proposal: Interval, onset: int, offset: int) -> bool:
        """Edges dragged on the timeline: the same 'adjusted' decision as the spin boxes."""
        selected = self.selected()
        if selected is None or _key(selected) != _key(proposal):
            return False
        if (onset, offset) == (self.onset_box.value(), self.offset_box.value()):
            return False                     # edges back where they were: nothing to decide
        apex = min(max(self.apex_box.value(), onset), offset)
        self.onset_box.setValue(onset)
        self.apex_box.setValue(apex)
        self.offset_box.setValue(offset)
        if not self.adjust_current():
            self._sync_spinboxes()           # refused: put the edges back
            return False
        return True

    def _video_changed(self, video: str) -> None:
        if self.current_only.isChecked():
            self._filters_changed()
        self._sync_edit_span()

    def _filters_changed(self, *_args) -> None:
        self.proxy.video = self.mw.current_video_id if self.current_only.isChecked() else None
        self.proxy.unreviewed_only = self.unreviewed_only.isChecked()
        self.proxy.invalidate()

    def _update_buttons(self) -> None:
        writable = self.mw.project is not None and not getattr(self.mw.project, "readonly", False)
        has = writable and self.run_id is not None and self.model.rowCount() > 0
        for b in (self.accept_button, self.reject_button, self.other_button, self.clear_button,
                  self.adjust_button):
            b.setEnabled(has)
        self.next_button.setEnabled(self.model.rowCount() > 0)
        keys = self.look_keys(writable)
        self.next_stretch_button.setEnabled(keys["next_stretch"])
        self.next_look_button.setEnabled(keys["next_look"])
        self.nothing_button.setEnabled(keys["nothing_here"])

    def look_keys(self, writable: bool) -> dict[str, bool]:
        """Which of S, K and X can act, for these buttons and the Review menu alike: stretches
        need shown proposals of any origin, Look here a trained run's, X a project it may write."""
        shown = self.run_id is not None and bool(self.predictions)
        return {"next_stretch": shown, "next_look": shown and not self.origin, "nothing_here": shown and writable}

    # ------------------------------------------------------------------------ actions
    def _decide(self, status: str | None, proposal: Interval | None = None,
                adjusted=None, advance: bool = True, as_other: bool = False) -> bool:
        proposal = proposal or self.current()
        if proposal is None:
            self.mw.show_status("No proposal selected or under the playhead")
            return False
        linked = (None if self.mw.project is None
                  else decision_link(self.mw.project, proposal, status, adjusted, as_other))
        ok = apply_review(self.mw, self.run_id, proposal, status, adjusted, as_other)
        if ok:
            self.note_label.setText(
                f"{describe(status, proposal, adjusted, as_other, done=True)}: linked to the {linked.cls} "
                f"label at frame {linked.frame} already inside it; no new label added."
                if linked is not None else "")
            self.decision_made.emit()
            self.select(proposal, jump=False)
            if advance and status is not None:
                self.next_unreviewed(after=proposal)
        return ok

    def accept_current(self) -> bool:
        return self._decide(ACCEPTED)

    def reject_current(self) -> bool:
        return self._decide(REJECTED)

    def other_class_current(self) -> bool:
        """Accept the proposal as the other class: a rejection of its class, a label of the other
        class at its apex (the review decision stored is the rejection)."""
        return self._decide(REJECTED, as_other=True)

    def clear_current(self) -> bool:
        return self._decide(None, advance=False)

    def adjust_current(self) -> bool:
        """Accept the selected proposal with the spin boxes' onset/apex/offset."""
        p = self.selected() or self.current()
        values = (self.onset_box.value(), self.apex_box.value(), self.offset_box.value())
        if not values[0] <= values[1] <= values[2]:
            self.mw.show_status("Adjusted boundaries need onset <= apex <= offset", 6000)
            return False
        record = self.mw.project.videos.get(p.video) if p is not None else None
        if record is not None and values[2] > record.n_frames - 1:
            self.mw.show_status(f"Offset {values[2]} is past the end of {p.video} "
                                f"(frames 0-{record.n_frames - 1})", 6000)
            return False
        return self._decide(ADJUSTED, p, adjusted=values, advance=False)

    def next_unreviewed(self, after: Interval | None = None) -> Interval | None:
        """Select (and jump to) the next proposal in table order that needs a look (no decision
        in this run or an earlier one, no label of its class inside), wrapping around."""
        order = self.proposals()
        if not order:
            return None
        project = self.mw.project
        start = 0
        anchor = after or self.selected()
        if anchor is not None:
            keys = [_key(p) for p in order]
            if _key(anchor) in keys:
                start = keys.index(_key(anchor)) + 1
        for i in range(len(order)):
            p = order[(start + i) % len(order)]
            if review_state(project, self.run_id, p)[0] is None:
                self.select(p)
                return p
        self.mw.show_status("Every proposal is reviewed, decided in an earlier run or labelled")
        return None

    def _queue_jump(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        look = item.data(0, ROLE_LOOK)
        if look is not None:
            self.looks.look_at(look)
            return
        stretch = item.data(0, ROLE_STRETCH)
        if stretch is not None:
            self.looks.scan_at(stretch)
            return
        target = item.data(0, Qt.ItemDataRole.UserRole)
        if target:
            video, frame = target
            self.mw.go_to_frame(video, int(frame))

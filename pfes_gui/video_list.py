"""The video list: one row per project video with what the annotator needs to pick the next one.

Columns: video id, MaE and ME label counts, whether features are extracted, proposals from the
latest predictions and how many of them are reviewed. Counts come from the project (cheap, in
memory); the prediction/review columns are filled by the review side through ``set_predictions``
and ``set_reviewed`` because only it knows which run is shown; the list keeps them, so a rebuild
(a video added) shows them again instead of blanking every row.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from . import class_color

COLUMNS = ("Video", "MaE", "ME", "Features", "Proposals", "Reviewed")
COL_VIDEO, COL_MAE, COL_ME, COL_FEATURES, COL_PROPOSALS, COL_REVIEWED = range(len(COLUMNS))


class VideoList(QTableWidget):
    """Table of the project's videos; emits ``video_selected(video_id)`` when the user picks one."""

    video_selected = Signal(str)

    def __init__(self, parent=None):
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)   # keys belong to the annotation shortcuts
        self.verticalHeader().setVisible(False)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(COL_VIDEO, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(28)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        # Short headers keep the id column wide; the tooltips say what each one counts.
        short = {COL_FEATURES: ("Feat", "features extracted"),
                 COL_PROPOSALS: ("Prop", "proposals of the shown run"),
                 COL_REVIEWED: ("Rev", "proposals needing no more review (decided in this run "
                                       "or an earlier one, or labelled) / all")}
        for col, (text, tip) in short.items():
            self.horizontalHeaderItem(col).setText(text)
            self.horizontalHeaderItem(col).setToolTip(tip)
        self.verticalHeader().setDefaultSectionSize(22)
        for col, cls in ((COL_MAE, "MaE"), (COL_ME, "ME")):
            self.horizontalHeaderItem(col).setForeground(QColor(class_color(cls)))
        self._rows: dict[str, int] = {}
        self._project = None
        self._proposals: dict[str, int | None] = {}          # video -> proposals shown
        self._reviewed: dict[str, tuple[int, int]] = {}      # video -> (reviewed, total)
        self.itemSelectionChanged.connect(self._selection_changed)

    def set_project(self, project) -> None:
        """Rebuild every row from the project (None clears the list). The prediction and review
        columns of the same project keep their values (another project starts blank)."""
        if project is not self._project:
            self._proposals, self._reviewed = {}, {}
        self._project = project
        self.blockSignals(True)
        self.setRowCount(0)
        self._rows = {}
        if project is not None:
            for row, video_id in enumerate(project.videos):
                self.insertRow(row)
                self._rows[video_id] = row
                item = QTableWidgetItem(video_id)
                record = project.videos[video_id]
                item.setToolTip(f"{record.path}\n{record.n_frames} frames at {record.fps:g} fps"
                                + (f", subject {record.subject}" if record.subject else ""))
                self.setItem(row, COL_VIDEO, item)
                for col in range(1, len(COLUMNS)):
                    cell = QTableWidgetItem("")
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    self.setItem(row, col, cell)
                n = self._proposals.get(video_id)
                self.setItem(row, COL_PROPOSALS, _centred("-" if n is None else str(n)))
                done = self._reviewed.get(video_id)
                self.setItem(row, COL_REVIEWED, _centred("-" if done is None
                                                         else f"{done[0]}/{done[1]}"))
        self.blockSignals(False)
        self.refresh()

    def refresh(self, video_id: str | None = None) -> None:
        """Update label counts and feature state (all rows, or one)."""
        project = self._project
        if project is None:
            return
        counts = project.labels.counts()
        ids = [video_id] if video_id is not None else list(self._rows)
        for vid in ids:
            row = self._rows.get(vid)
            if row is None:
                continue
            c = counts.get(vid, {})
            self.item(row, COL_MAE).setText(str(c.get("MaE", 0)))
            self.item(row, COL_ME).setText(str(c.get("ME", 0)))
            ready = (Path(project.features_dir) / f"{vid}.h5").exists()
            self.item(row, COL_FEATURES).setText("\u2713" if ready else "-")
            self.item(row, COL_FEATURES).setToolTip(
                "features extracted" if ready else "no features yet (Model menu: extract)")

    def set_predictions(self, video_id: str, n_proposals: int | None) -> None:
        """Number of proposals the shown run made for a video (None: no predictions)."""
        self._proposals[video_id] = n_proposals
        if n_proposals is None:
            self._reviewed.pop(video_id, None)
        row = self._rows.get(video_id)
        if row is not None:
            self.item(row, COL_PROPOSALS).setText("-" if n_proposals is None else str(n_proposals))
            if n_proposals is None:
                self.item(row, COL_REVIEWED).setText("-")

    def set_reviewed(self, video_id: str, n_reviewed: int, n_total: int) -> None:
        self._reviewed[video_id] = (int(n_reviewed), int(n_total))
        row = self._rows.get(video_id)
        if row is not None:
            self.item(row, COL_REVIEWED).setText(f"{n_reviewed}/{n_total}")

    def set_missing(self, video_id: str, message: str) -> None:
        """Mark a video whose media cannot be opened (red name, message as tooltip)."""
        row = self._rows.get(video_id)
        if row is not None:
            item = self.item(row, COL_VIDEO)
            item.setForeground(QColor("#e05555"))
            item.setToolTip(message)

    def select(self, video_id: str) -> None:
        """Select a row without emitting video_selected (the caller already switched)."""
        row = self._rows.get(video_id)
        if row is None:
            return
        self.blockSignals(True)
        self.selectRow(row)
        self.blockSignals(False)

    def video_ids(self) -> list[str]:
        return list(self._rows)

    def _selection_changed(self) -> None:
        rows = {index.row() for index in self.selectedIndexes()}
        if len(rows) == 1:
            row = rows.pop()
            self.video_selected.emit(self.item(row, COL_VIDEO).text())


def _centred(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
    return item

"""MEGC F1 of the shown run against the project's reference intervals, per class and per video.

Why in-process: pfes_core.metrics.evaluate is plain Python over a few thousand intervals (well
under a second), the predictions are already loaded for the timeline and the reference lives in
the open project; a worker process would have to re-read both. It still runs off the GUI thread
(see ModelController.evaluate). Each video row expands to its false positives and misses; a
double-click jumps there with MainWindow.go_to_frame. A false-positive or miss row spans the whole
width and carries its full text as a tooltip, so its frames and score are never cut.

Above the table the view says what the figures are worth (`run_notes`): a single-model run is
scored on videos it trained on (optimistic), and labels added since the run's label snapshot
are not in the model yet.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from pfes_core.types import CLASSES

from . import class_color

HEADERS = ("Scope", "GT", "Pred", "TP", "FP", "FN", "Precision", "Recall", "F1")
ROLE_TARGET = Qt.ItemDataRole.UserRole + 1


def evaluate_predictions(predictions: dict, reference: dict, run_id: str | None = None):
    """MetricsReport of `predictions` ({video: Predictions}) on the videos that have reference
    intervals (as `pfes evaluate` does without --include-unreferenced)."""
    from pfes_core.metrics import FIXED_EPOCH, evaluate

    truth = {v: list(ivs) for v, ivs in reference.items() if ivs}
    videos = list(truth)
    pred = {v: list(predictions[v].proposals) for v in videos if v in predictions}
    return evaluate(pred, truth, videos=videos, selection=FIXED_EPOCH,
                    label=f"run {run_id}" if run_id else "")


def read_run_json(path: Path):
    """A run file (config, status, label snapshot) as JSON, or None while it is missing or half-written."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def run_notes(project_root, run_id: str | None, labels, scored_videos) -> list[str]:
    """What to keep in mind about an evaluation of ``run_id``: training videos among the scored
    ones, and labels (``(video, frame, cls)`` now in the project) the run's snapshot lacks.
    Reads runs/<id>/config.json and labels.json (plain JSON)."""
    from pfes_core.baseline import BASELINE_RUN_ID

    if run_id is None:
        return []
    if run_id == BASELINE_RUN_ID:
        return ["Motion baseline: nothing was trained, so no scored video is a training video."]
    run = Path(project_root) / "runs" / run_id
    config = read_run_json(run / "config.json") or {}
    snapshot = read_run_json(run / "labels.json") or {}
    taken = {(d.get("video"), int(d.get("frame", -1)), d.get("cls"))
             for d in snapshot.get("labels", []) if isinstance(d, dict)}
    notes = []
    scored = list(scored_videos)
    if config.get("loso"):
        notes.append("Leave-one-subject-out run: each video is scored by a model that did not "
                     "train on its subject.")
    elif scored:
        labelled = sorted({v for v, _f, _c in taken} & set(scored))
        notes.append(f"Scored on the videos the model was trained on: this run trained one "
                     f"model on every video with features ({len(labelled)} of the "
                     f"{len(scored)} scored videos have labels in its snapshot), so these "
                     f"figures are optimistic. Leave-one-subject-out training gives held-out "
                     f"figures.")
    if snapshot:
        now = {(v, int(f), c) for v, f, c in labels}
        newer, gone = len(now - taken), len(taken - now)
        if newer or gone:
            text = (f"{newer} label{'s' if newer != 1 else ''} newer than the model's label "
                    f"snapshot ({snapshot.get('count', len(taken))} labels)")
            if gone:
                text += f", {gone} of its labels since removed or moved"
            notes.append(text + ": Model -> Retrain to use them.")
        else:
            notes.append(f"The model's label snapshot matches the project's "
                         f"{len(now)} labels.")
    return notes


def _count_cells(counts) -> list[str]:
    return [str(counts.n_gt), str(counts.n_pred), str(counts.tp), str(counts.fp), str(counts.fn),
            f"{counts.precision:.3f}", f"{counts.recall:.3f}", f"{counts.f1:.3f}"]


class EvaluationView(QDockWidget):
    """A tree: Overall and one row per class, then one row per video (worst first)."""

    def __init__(self, main_window, parent: QWidget | None = None):
        super().__init__("Evaluation", parent or main_window)
        self.setObjectName("EvaluationView")
        self.mw = main_window
        self.report = None
        body = QWidget()
        layout = QVBoxLayout(body)
        self.caption = QLabel("Model -> Evaluate scores the shown run against the reference "
                              "intervals (File -> Import reference intervals).")
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        self.notes = QLabel("")
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color: #ffd166")
        layout.addWidget(self.notes)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(HEADERS)
        self.tree.setAlternatingRowColors(True)
        self.tree.itemDoubleClicked.connect(self._jump)
        self.tree.itemActivated.connect(self._jump)
        self.tree.itemExpanded.connect(lambda _item: self.tree.resizeColumnToContents(0))
        layout.addWidget(self.tree, 1)
        self.setWidget(body)

    def show_report(self, report, run_id: str | None = None, notes=()) -> None:
        from pfes_core.baseline import BASELINE_ORIGIN, BASELINE_RUN_ID

        self.report = report
        self.tree.clear()
        overall = report.overall
        self.notes.setText("\n".join(notes))
        what = f"The {BASELINE_ORIGIN}" if run_id == BASELINE_RUN_ID else f"Run {run_id}"
        self.caption.setText(f"{what}: F1 {overall.f1:.3f} over {len(report.per_video)} "
                             f"videos with reference intervals (IoU >= 0.5, same class). "
                             f"Double-click a false positive or a miss to jump there.")
        top = QTreeWidgetItem(["Overall", *_count_cells(overall)])
        self.tree.addTopLevelItem(top)
        for cls in CLASSES:
            item = QTreeWidgetItem([cls, *_count_cells(report.classes[cls])])
            item.setForeground(0, class_color_brush(cls))
            self.tree.addTopLevelItem(item)
        videos = QTreeWidgetItem([f"Videos ({len(report.per_video)})"])
        self.tree.addTopLevelItem(videos)
        worst = sorted(report.per_video.values(),
                       key=lambda vr: (-(len(vr.false_positives) + len(vr.missed)), vr.video))
        for vr in worst:
            row = QTreeWidgetItem([vr.video, *_count_cells(vr.overall)])
            row.setData(0, ROLE_TARGET, (vr.video, None))
            row.setToolTip(0, vr.video)
            videos.addChild(row)
            for cls in CLASSES:
                sub = QTreeWidgetItem([f"{cls}", *_count_cells(vr.counts[cls])])
                sub.setForeground(0, class_color_brush(cls))
                row.addChild(sub)
            for title, intervals in (("false positive", vr.false_positives),
                                     ("miss", vr.missed)):
                for iv in sorted(intervals, key=lambda iv: iv.onset):
                    score = f", score {iv.score:.2f}" if iv.score is not None else ""
                    leaf = QTreeWidgetItem(
                        [f"{title}: {iv.cls} {iv.onset}-{iv.offset} (apex {iv.apex}{score})"])
                    leaf.setData(0, ROLE_TARGET, (iv.video, int(iv.apex)))
                    leaf.setForeground(0, class_color_brush(iv.cls))
                    leaf.setToolTip(0, f"{vr.video}: {leaf.text(0)}")
                    row.addChild(leaf)
                    leaf.setFirstColumnSpanned(True)    # the whole row width for the text
        videos.setExpanded(True)
        for col in range(len(HEADERS)):
            self.tree.resizeColumnToContents(col)

    def show_message(self, text: str) -> None:
        self.report = None
        self.tree.clear()
        self.notes.setText("")
        self.caption.setText(text)

    def _jump(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        target = item.data(0, ROLE_TARGET)
        if not target:
            return
        video, frame = target
        if frame is None:
            if video != self.mw.current_video_id:
                self.mw.go_to_frame(video, 0)
        else:
            self.mw.go_to_frame(video, frame)


def class_color_brush(cls: str):
    from PySide6.QtGui import QBrush, QColor

    return QBrush(QColor(class_color(cls)))

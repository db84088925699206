"""The background-job dock: progress, epoch/step, live loss plot, ETA, device, label snapshot, Cancel.

Why a dock and not a modal dialog: the annotator keeps labelling while the model trains (DESIGN
section 3). The dock only listens to a Job's signals (see jobs.py), so it shows extraction and
spotting the same way; the loss plot, the epoch and the device fill in when the worker reports
them (`pfes train --progress jsonl` events carry "epoch", "loss", "metrics", "eta", "device").
The worker's own libraries (torch, OpenCV, MediaPipe) print warnings and info lines; the log
shows them only when "library messages" is ticked, so the lines that matter stay visible. The
loss legend is a row above the plot, never on top of the curves.
"""

from __future__ import annotations

import collections
import math
import re
import time

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QDockWidget, QFormLayout, QFrame, QHBoxLayout, QLabel,
                               QPlainTextEdit, QProgressBar, QPushButton, QScrollArea, QVBoxLayout,
                               QWidget)

from .jobs import Job

# Curve colours for loss parts, in order of first appearance (colour-blind friendly palette).
_PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
            "#ff9da7")
_LOG_LINES = 500

# Lines printed by the worker's libraries rather than by pfes: Python warnings (and the source
# line warnings print after them), glog/absl lines (I0101 12:00:00..., W0000 ...), level-tagged
# log lines, and progress bars drawn with carriage returns.
_NOISE = re.compile(
    r"(^\S*(Warning|warn)\b.*?:|\b\w*Warning: |^\s+warnings\.warn\(|^\s+(return|self\.|super\()"
    r"|^[IWD]\d{4} \d\d:\d\d|^WARNING: All log messages before absl|^(INFO|DEBUG|WARNING)[: ]"
    r"|^\[[^\]]*(INFO|WARN|W |I )[^\]]*\]|\r)")


def is_library_noise(line: str) -> bool:
    """True for a worker line that comes from a library's logging, not from pfes."""
    if line.startswith("error:") or line.startswith("Traceback") or "Error" in line.split(":")[0]:
        return False
    return bool(_NOISE.search(line))


def for_the_gui(text: str) -> str:
    """A worker message without command-line advice the app does not offer (``--resume``)."""
    out = []
    for line in text.split("\n"):
        line = re.sub(r"\s*[;(]?\s*resume (it )?with `?(pfes train )?--resume [^\s`);]+`?\)?", "",
                      line)
        if line.count("(") > line.count(")"):
            line += ")"
        out.append(line)
    return "\n".join(out)


def format_eta(value) -> str:
    """Seconds (or an already formatted string) as '42 s', '3 min 05 s', '1 h 02 min'."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(seconds) or seconds < 0:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {(seconds % 3600) // 60:02d} min"


def loss_parts(loss) -> dict[str, float]:
    """A worker's `loss` field as named parts: a number is 'loss', a dict keeps its keys."""
    if isinstance(loss, dict):
        out = {}
        for name, value in loss.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and math.isfinite(float(value)):
                out[str(name)] = float(value)
        return out
    if isinstance(loss, (int, float)) and not isinstance(loss, bool) and math.isfinite(float(loss)):
        return {"loss": float(loss)}
    return {}


def snapshot_text(event: dict) -> str | None:
    """Describe the label snapshot a training event names, or None when it names none."""
    count = None
    for key in ("n_labels", "label_count", "labels"):
        value = event.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            count = value
            break
    path = event.get("label_snapshot") or event.get("snapshot")
    if isinstance(path, dict):   # {"path": ..., "n_labels": ...}
        count = path.get("n_labels", path.get("count", count))
        path = path.get("path")
    if count is None and not path:
        return None
    parts = []
    if count is not None:
        parts.append(f"{count} labels")
    if path:
        parts.append(str(path))
    return ", ".join(parts)


class TrainingDock(QDockWidget):
    """Shows one job at a time (the latest attached); Cancel asks the job's worker to stop."""

    cancel_requested = Signal(object)   # Job

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Background jobs", parent)
        self.setObjectName("TrainingDock")
        self.job: Job | None = None
        self._t0 = time.monotonic()
        self._loss_x = 0
        self._epoch = self._epochs = self._step = None
        self._curve_data: dict[str, tuple[list[float], list[float]]] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}

        body = QWidget(self)
        layout = QVBoxLayout(body)
        head = QHBoxLayout()
        self.title_label = QLabel("No job has run yet.")
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the worker (terminate, then kill if it does not stop)")
        self.cancel_button.clicked.connect(self._cancel)
        head.addWidget(self.title_label, 1)
        head.addWidget(self.cancel_button)
        layout.addLayout(head)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        layout.addWidget(self.progress_bar)

        form = QFormLayout()
        self.stage_label = QLabel("-")
        self.epoch_label = QLabel("-")
        self.eta_label = QLabel("-")
        self.device_label = QLabel("-")
        self.snapshot_label = QLabel("-")
        self.metrics_label = QLabel("-")
        self.run_label = QLabel("-")
        for label in (self.stage_label, self.snapshot_label, self.metrics_label, self.run_label):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Stage:", self.stage_label)
        form.addRow("Epoch / step:", self.epoch_label)
        form.addRow("ETA:", self.eta_label)
        form.addRow("Device:", self.device_label)
        form.addRow("Label snapshot:", self.snapshot_label)
        form.addRow("Metrics:", self.metrics_label)
        form.addRow("Run:", self.run_label)
        layout.addLayout(form)

        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(140)
        self.plot.setLabel("left", "loss")
        self.plot.setLabel("bottom", "logged step")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.legend_label = QLabel()          # the curves' names, above the plot (never on it)
        self.legend_label.setObjectName("loss_legend")
        layout.addWidget(self.legend_label)
        layout.addWidget(self.plot, 1)

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #e15759;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.noise_box = QCheckBox("Show library messages (warnings, info)")
        self.noise_box.setToolTip("Lines the worker's libraries print (torch, OpenCV, MediaPipe); "
                                  "hidden by default")
        self.noise_box.toggled.connect(self._refill_log)
        self.hidden_label = QLabel()
        self.hidden_label.setStyleSheet("color: #888;")
        noise_row = QHBoxLayout()
        noise_row.addWidget(self.noise_box)
        noise_row.addStretch(1)
        noise_row.addWidget(self.hidden_label)
        layout.addLayout(noise_row)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(_LOG_LINES)
        self.log_view.setPlaceholderText("worker output")
        self.log_view.setMaximumHeight(120)
        layout.addWidget(self.log_view)
        self._log_lines: collections.deque[str] = collections.deque(maxlen=_LOG_LINES)
        self._hidden = 0
        # scrolls when short: its ~490 px of content set the height of the whole right column
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        self.setWidget(scroll)

    # -- attaching ---------------------------------------------------------------------------
    def attach(self, job: Job, snapshot: str | None = None) -> None:
        """Show `job` from now on (resets the view); `snapshot` pre-fills the label snapshot."""
        if self.job is not None:
            self._disconnect(self.job)
        self.job = job
        self._t0 = time.monotonic()
        self._reset()
        self.title_label.setText(f"<b>{job.name}</b>: starting")
        if snapshot:
            self.snapshot_label.setText(snapshot)
        job.started.connect(self._on_started)
        job.progress.connect(self.on_progress)
        job.log.connect(self.on_log)
        job.error.connect(self.on_error)
        job.finished.connect(self.on_finished)
        self.cancel_button.setEnabled(not job.is_done)
        if job.is_running and job.last_event:
            self.on_progress(job.last_event)

    def _disconnect(self, job: Job) -> None:
        for signal, slot in ((job.started, self._on_started), (job.progress, self.on_progress),
                             (job.log, self.on_log), (job.error, self.on_error),
                             (job.finished, self.on_finished)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass

    def _reset(self) -> None:
        self.progress_bar.setRange(0, 0)   # busy until the first step/total arrives
        self.progress_bar.setValue(0)
        for label in (self.stage_label, self.epoch_label, self.eta_label, self.device_label,
                      self.snapshot_label, self.metrics_label, self.run_label):
            label.setText("-")
        self.error_label.clear()
        self.error_label.hide()
        self.log_view.clear()
        self._log_lines.clear()
        self._hidden = 0
        self.hidden_label.clear()
        self.plot.clear()
        self.legend_label.clear()
        self.curves.clear()
        self._curve_data.clear()
        self._loss_x = 0
        self._epoch = self._epochs = self._step = None

    # -- job signals -------------------------------------------------------------------------
    def _on_started(self) -> None:
        if self.job is not None:
            self.title_label.setText(f"<b>{self.job.name}</b>: running")

    def on_progress(self, event: dict) -> None:
        stage = str(event.get("stage", ""))
        step, total = event.get("step"), event.get("total")
        stage_text = stage
        if event.get("video"):
            stage_text += f" - {event['video']}"
        if event.get("message"):
            stage_text += f": {for_the_gui(str(event['message']))}"
        self.stage_label.setText(stage_text)
        if isinstance(total, int) and total > 0 and isinstance(step, int):
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(max(0, min(step, total)))
            self.progress_bar.setFormat(f"{stage} %v / %m (%p%)")
        if event.get("epoch") is not None or stage == "train":
            self._update_epoch(event)
        if "eta" in event:
            self.eta_label.setText(format_eta(event["eta"]))
        if event.get("device"):
            self.device_label.setText(str(event["device"]))
        snap = snapshot_text(event)
        if snap:
            self.snapshot_label.setText(snap)
        if event.get("run_id"):
            self.run_label.setText(str(event["run_id"]))
        metrics = event.get("metrics")
        if isinstance(metrics, dict) and metrics:
            self.metrics_label.setText(", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in metrics.items() if isinstance(v, (int, float, str))))
        parts = loss_parts(event.get("loss"))
        parts.update(loss_parts(event.get("parts")))   # training: total "loss" + named parts
        if parts:
            self._add_loss(parts)
        if stage == "done":
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(1)
            self.eta_label.setText("-")

    def _update_epoch(self, event: dict) -> None:
        """Keep the last epoch and training step: a validation event has an epoch, no step."""
        if event.get("epoch") is not None:
            self._epoch = event["epoch"]
        if event.get("epochs"):
            self._epochs = event["epochs"]
        if isinstance(event.get("step"), int):
            self._step = (event["step"], event.get("total"))
        parts = []
        if self._epoch is not None:
            parts.append(f"epoch {self._epoch}" + (f" / {self._epochs}" if self._epochs else ""))
        if self._step is not None:
            step, total = self._step
            parts.append(f"step {step}" + (f" / {total}" if total else ""))
        self.epoch_label.setText(", ".join(parts) or "-")

    def _add_loss(self, parts: dict[str, float]) -> None:
        self._loss_x += 1
        for name, value in parts.items():
            xs, ys = self._curve_data.setdefault(name, ([], []))
            xs.append(self._loss_x)
            ys.append(value)
            curve = self.curves.get(name)
            if curve is None:
                color = _PALETTE[len(self.curves) % len(_PALETTE)]
                curve = self.plot.plot(pen=pg.mkPen(color, width=2))
                curve.setObjectName(color)
                self.curves[name] = curve
                self.legend_label.setText("&nbsp;&nbsp;".join(
                    f"<span style='color:{c.objectName()}'>\u2501 {n}</span>"
                    for n, c in self.curves.items()))
            curve.setData(xs, ys)

    def on_log(self, line: str) -> None:
        self._log_lines.append(line)
        if self.noise_box.isChecked() or not is_library_noise(line):
            self.log_view.appendPlainText(line)
        else:
            self._hidden += 1
            self.hidden_label.setText(f"{self._hidden} hidden")

    def _refill_log(self) -> None:
        show_all = self.noise_box.isChecked()
        self.log_view.setPlainText("\n".join(line for line in self._log_lines
                                              if show_all or not is_library_noise(line)))

    def on_error(self, message: str) -> None:
        first, _, rest = for_the_gui(message).partition("\n")
        self.error_label.setText(first)
        self.error_label.setToolTip(rest)
        self.error_label.show()
        if rest:
            self.log_view.appendPlainText(rest)

    def on_finished(self, result: dict) -> None:
        self.cancel_button.setEnabled(False)
        name = self.job.name if self.job is not None else "job"
        seconds = result.get("seconds")
        took = f" in {format_eta(seconds)}" if seconds is not None else ""
        if result.get("ok"):
            state = "finished" + took
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(1)
        elif result.get("cancelled"):
            state = "cancelled"
        else:
            state = f"failed (exit code {result.get('returncode')})"
            if self.progress_bar.maximum() == 0:
                self.progress_bar.setRange(0, 1)
        self.title_label.setText(f"<b>{name}</b>: {state}")
        if result.get("run_id"):
            self.run_label.setText(str(result["run_id"]))
        self.eta_label.setText("-")

    def _cancel(self) -> None:
        if self.job is not None and not self.job.is_done:
            self.cancel_button.setEnabled(False)
            self.title_label.setText(f"<b>{self.job.name}</b>: cancelling...")
            self.cancel_requested.emit(self.job)
            self.job.cancel()


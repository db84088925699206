"""The training dock fed by real worker processes; retraining a tiny project from the Model menu."""

from __future__ import annotations

import sys
import textwrap

import pytest

pytest.importorskip("PySide6")
qasync = pytest.importorskip("qasync")

from pfes_gui.jobs import WorkerJob  # noqa: E402
from pfes_gui.training_dock import TrainingDock, format_eta, loss_parts, snapshot_text  # noqa: E402

pytestmark = pytest.mark.gui




def script(body: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(body)]


FAKE_TRAINING = """
    import json, sys, time
    def emit(**e):
        print(json.dumps(e), flush=True)
    emit(stage="snapshot", run_id="20250101-000000", n_labels=37,
         label_snapshot="runs/20250101-000000/labels.json")
    for epoch in range(1, 3):
        for step in range(1, 4):
            emit(stage="train", epoch=epoch, epochs=2, step=step, total=3, device="cpu",
                 loss={"total": 1.0 / (epoch * step), "intensity": 0.6 / step, "apex": 0.4},
                 eta=(2 - epoch) * 30 + (3 - step) * 10)
        emit(stage="validate", epoch=epoch, metrics={"f1_MaE": 0.1 * epoch, "f1_ME": 0.05})
    print("a stray warning line")
    print("/venv/torch/nn/modules/conv.py:456: UserWarning: Plan failed", file=sys.stderr)
    print("  return F.conv2d(input, weight, self.bias)", file=sys.stderr)
    print("I0000 00:00:1700000000.123 4242 gl_context.cc:357] GL version: 3.2", file=sys.stderr)
    emit(stage="done", run_id="20250101-000000")
"""


def test_dock_shows_progress_losses_device_snapshot(qtbot, loop):
    dock = TrainingDock()
    qtbot.addWidget(dock)
    job = WorkerJob(script(FAKE_TRAINING), name="Retrain")
    dock.attach(job)
    job.start()
    qtbot.waitUntil(lambda: job.is_done, timeout=20000)
    assert job.result["ok"]
    assert set(dock.curves) == {"total", "intensity", "apex"}
    xs, ys = dock.curves["total"].getData()
    assert len(xs) == 6 and ys[0] == pytest.approx(1.0) and ys[-1] == pytest.approx(1 / 6)
    assert dock.device_label.text() == "cpu"
    assert dock.snapshot_label.text() == "37 labels, runs/20250101-000000/labels.json"
    assert dock.epoch_label.text() == "epoch 2 / 2, step 3 / 3"
    assert "f1_MaE 0.200" in dock.metrics_label.text()
    assert dock.run_label.text() == "20250101-000000"
    assert "finished" in dock.title_label.text()
    assert (dock.progress_bar.value(), dock.progress_bar.maximum()) == (1, 1)
    assert "a stray warning line" in dock.log_view.toPlainText()
    assert not dock.cancel_button.isEnabled() and dock.error_label.isHidden()
    # library noise is hidden (and counted) until asked for
    shown = dock.log_view.toPlainText()
    assert "UserWarning" not in shown and "gl_context" not in shown and "F.conv2d" not in shown
    assert dock.hidden_label.text() == "3 hidden"
    dock.noise_box.setChecked(True)
    assert "UserWarning" in dock.log_view.toPlainText()
    # the legend is a row of its own above the plot, naming every curve
    assert [name in dock.legend_label.text() for name in ("total", "intensity", "apex")] == [True] * 3
    assert dock.legend_label.geometry().bottom() <= dock.plot.geometry().top()


def test_cancelled_training_does_not_offer_resume(qtbot, loop):
    dock = TrainingDock()
    qtbot.addWidget(dock)
    job = WorkerJob(script("""
        import json, sys
        print(json.dumps({"stage": "cancelled", "run_id": "r7",
                          "message": "training cancelled; resume with --resume r7"}), flush=True)
        print("error: training cancelled (run r7; resume with --resume r7)", file=sys.stderr)
        sys.exit(1)
    """), name="Retrain")
    dock.attach(job)
    job.start()
    qtbot.waitUntil(lambda: job.is_done, timeout=20000)
    texts = dock.stage_label.text() + dock.error_label.text() + dock.error_label.toolTip()
    assert "cancelled" in dock.stage_label.text()
    assert "--resume" not in texts and "resume" not in dock.stage_label.text()


def test_dock_shows_a_crash(qtbot, loop):
    dock = TrainingDock()
    qtbot.addWidget(dock)
    job = WorkerJob(script("""
        import json
        print(json.dumps({"stage": "train", "epoch": 1, "step": 1, "total": 10, "loss": 0.5}), flush=True)
        raise RuntimeError("CUDA out of memory")
    """), name="Retrain")
    dock.attach(job)
    job.start()
    qtbot.waitUntil(lambda: job.is_done, timeout=20000)
    assert not dock.error_label.isHidden()
    assert dock.error_label.text() == "Retrain: worker exited with code 1"
    assert "CUDA out of memory" in dock.log_view.toPlainText()
    assert "failed (exit code 1)" in dock.title_label.text()
    assert list(dock.curves) == ["loss"]


def test_cancel_button_stops_the_worker(qtbot, loop):
    dock = TrainingDock()
    qtbot.addWidget(dock)
    job = WorkerJob(script("""
        import json, time
        for i in range(1000):
            print(json.dumps({"stage": "train", "step": i, "total": 1000, "loss": 1.0}), flush=True)
            time.sleep(0.05)
    """), name="Retrain", grace_s=1)
    dock.attach(job)
    job.start()
    qtbot.waitUntil(lambda: dock.progress_bar.value() >= 2, timeout=10000)
    assert dock.cancel_button.isEnabled()
    with qtbot.waitSignal(dock.cancel_requested, timeout=1000):
        dock.cancel_button.click()
    qtbot.waitUntil(lambda: job.is_done, timeout=10000)
    assert job.result["cancelled"] and job.result["returncode"] != 0
    assert "cancelled" in dock.title_label.text()
    assert dock.error_label.text() == "Retrain: cancelled"


def test_small_formatters():
    assert format_eta(5) == "5 s" and format_eta(185) == "3 min 05 s"
    assert format_eta(3720) == "1 h 02 min" and format_eta(None) == "-" and format_eta("soon") == "soon"
    assert loss_parts(0.5) == {"loss": 0.5}
    assert loss_parts({"a": 1, "b": float("nan"), "c": "x"}) == {"a": 1.0}
    assert loss_parts(True) == {}
    assert snapshot_text({"stage": "train"}) is None
    assert snapshot_text({"label_snapshot": {"path": "p.json", "n_labels": 3}}) == "3 labels, p.json"


# ---------------------------------------------------------------------------------------------
# Retrain and spot through the real `pfes` worker processes, from the real MainWindow.

def _free_frame(project, video, start):
    frame = start
    while project.labels.in_range(video, frame - 3, frame + 3):
        frame += 7
    return frame


def demo_window(qtbot, tmp_path, small_demo_project):
    """The real MainWindow with the Model menu, on a fresh copy of the small demo (no runs)."""
    import shutil

    from pfes_gui.main_window import MainWindow
    from pfes_gui.model_menu import install_model_menu

    root = tmp_path / "demo.pfes"
    shutil.copytree(small_demo_project, root, ignore=shutil.ignore_patterns("runs", ".lock"))
    mw = MainWindow(annotator="tester")
    qtbot.addWidget(mw)
    controller = install_model_menu(mw)
    assert mw.open_project(root)
    return mw, controller


@pytest.mark.slow
def test_retrain_then_spot_from_the_model_menu(qtbot, loop, tmp_path, small_demo_project,
                                               monkeypatch):
    import json

    from pfes_gui import dialogs

    notes = []
    monkeypatch.setattr(dialogs, "info", lambda *a, **k: notes.append(a))
    monkeypatch.setattr(dialogs, "error", lambda *a, **k: notes.append(a))
    mw, c = demo_window(qtbot, tmp_path, small_demo_project)
    qtbot.waitUntil(lambda: not c.busy, timeout=20000)
    assert c.run_id is None and mw.timeline.proposals == []
    video = mw.current_video_id

    # no trained run yet: Spot offers the label-free motion proposals (no worker, no error)
    from pfes_core.baseline import BASELINE_ORIGIN, BASELINE_RUN_ID

    c.actions["model.spot"].trigger()
    qtbot.waitUntil(lambda: c.run_id == BASELINE_RUN_ID and not c.busy, timeout=60000)
    assert c.last_job is None and c.origin == BASELINE_ORIGIN and mw.timeline.proposals
    assert not [n for n in notes if "pfes train" in str(n)]
    n_frames = mw.project.videos[video].n_frames

    # a label clicked just before retraining is part of the run (the project is saved first)
    assert mw.add_label(_free_frame(mw.project, video, 20), "ME")
    assert mw.project.is_dirty
    n_snapshot = len(mw.project.labels)
    c.train_args = ["--epochs", "1"]
    c.actions["model.train"].trigger()
    job = c.last_job
    assert job is not None and job.name == "Retrain" and c.dock.job is job
    assert not mw.project.is_dirty
    assert not c.actions["model.train"].isEnabled()
    assert c.retrain() is None and notes                # one training per project
    assert "still running" in notes[-1][2]

    # the app stays usable: label while it trains; that label waits for the next run
    qtbot.waitUntil(lambda: job.run_id is not None, timeout=60000)
    late = _free_frame(mw.project, video, n_frames // 2)
    assert mw.add_label(late, "MaE")
    qtbot.waitUntil(lambda: job.is_done, timeout=150000)
    assert job.result["ok"], job.result["error"]
    run_path = mw.project.root / "runs" / job.run_id
    snapshot = json.loads((run_path / "labels.json").read_text())
    assert snapshot["count"] == n_snapshot
    assert ["MaE", late] not in [[lab["cls"], lab["frame"]] for lab in snapshot["labels"]
                                 if lab["video"] == video]
    assert mw.project.labels.get(video, late, "MaE") is not None

    # the dock showed the worker's device, losses and the snapshot it used
    assert c.dock.device_label.text() == "cpu"
    assert "total" in c.dock.curves and len(c.dock.curves["total"].getData()[0]) >= 1
    assert c.dock.snapshot_label.text().startswith(f"{n_snapshot} labels")
    assert "finished" in c.dock.title_label.text()

    # the run's predictions are drawn on the timeline
    qtbot.waitUntil(lambda: c.run_id == job.run_id and not c.busy, timeout=30000)
    pred = c.predictions[video]
    assert len(mw.timeline._curve.getData()[1]) == n_frames
    assert mw.timeline.proposals == sorted(pred.proposals, key=lambda p: (p.onset, p.offset))
    assert len(mw.timeline._proposal_spans.onset) == len(pred.proposals)
    assert c.review.model.rowCount() == sum(len(p.proposals) for p in c.predictions.values())
    assert c.actions["model.train"].isEnabled()

    # Spot re-predicts with the latest run through its own worker and reloads the overlays
    mw.timeline.set_predictions(None, None, [])
    c.actions["model.spot"].trigger()
    spot = c.last_job
    assert spot is not job and spot.name == "Spot"
    qtbot.waitUntil(lambda: spot.is_done, timeout=90000)
    assert spot.result["ok"], spot.result["error"]
    assert spot.result["run_id"] == job.run_id
    qtbot.waitUntil(lambda: not c.busy and len(mw.timeline._curve.getData()[1]) == n_frames,
                    timeout=30000)
    assert len(mw.timeline._proposal_spans.onset) == len(c.predictions[video].proposals)
    mw.close_project()


@pytest.mark.slow
def test_cancelling_a_real_training_marks_the_run_cancelled(qtbot, loop, tmp_path,
                                                            small_demo_project):
    import json

    mw, c = demo_window(qtbot, tmp_path, small_demo_project)
    c.train_args = ["--epochs", "50"]
    job = c.retrain()
    qtbot.waitUntil(lambda: job.run_id is not None, timeout=60000)
    assert c.actions["model.cancel"].isEnabled()
    c.dock.cancel_button.click()
    qtbot.waitUntil(lambda: job.is_done, timeout=60000)
    assert job.result["cancelled"] and not job.result["ok"]
    assert "cancelled" in c.dock.title_label.text()
    # the worker caught SIGTERM and closed its run as resumable, not as a crash
    status = json.loads((mw.project.root / "runs" / job.run_id / "status.json").read_text())
    assert status["status"] == "cancelled"
    assert c.actions["model.train"].isEnabled() and not c.actions["model.cancel"].isEnabled()
    mw.close_project()


def test_dock_says_which_epoch_a_validation_run_kept(qtbot):
    """The event `train_fold` emits after choosing an epoch (pfes_core.epoch_selection)."""
    dock = TrainingDock()
    qtbot.addWidget(dock)
    dock.on_progress({"stage": "train", "epoch": 12, "epochs": 12, "step": 30, "total": 30})
    dock.on_progress({"stage": "train", "message": "kept epoch 9 of 12: best on validation subject sub03",
                      "metrics": {"kept epoch": 9, "validation point F1": 0.625}})
    assert "kept epoch 9 of 12" in dock.stage_label.text() and "sub03" in dock.stage_label.text()
    assert dock.metrics_label.text() == "kept epoch 9, validation point F1 0.625"
    assert dock.epoch_label.text() == "epoch 12 / 12, step 30 / 30"


def test_models_per_retrain_is_a_preference_a_quick_round_inherits(qtbot, loop, tmp_path, small_demo_project):
    """Edit -> Preferences "Models per Retrain" = 2: Retrain trains two seeds' models (their outputs
    averaged); a quick round fine-tunes both without being told; a damaged setting reads as the
    default, 3."""
    import json

    from pfes_gui import training_members

    mw, c = demo_window(qtbot, tmp_path, small_demo_project)
    qtbot.waitUntil(lambda: not c.busy, timeout=20000)
    store = mw.session.store
    dialog = mw.preferences_dialog()
    qtbot.addWidget(dialog)
    assert dialog.members_spin.value() == 3                      # the default: three models
    dialog.members_spin.setValue(2)
    dialog.accept()
    assert training_members.training_members(store) == 2
    c.train_args = ["--epochs", "1"]
    job = c.retrain()
    assert job.command[job.command.index("--members") + 1] == "2"
    assert c.dock.snapshot_label.text().endswith("2 models averaged")
    qtbot.waitUntil(lambda: job.is_done, timeout=240000)
    assert job.result["ok"], job.result["error"]
    run_path = mw.project.root / "runs" / job.run_id
    assert json.loads((run_path / "config.json").read_text())["members"] == 2
    assert (run_path / "checkpoint-m1.pt").exists()
    qtbot.waitUntil(lambda: "runs/" in c.dock.snapshot_label.text(), timeout=20000)   # the worker's own files
    assert c.dock.snapshot_label.text().endswith("; 2 models averaged")

    quick = c.retrain(quick=True)
    assert "--warm-start" in quick.command and "--members" not in quick.command
    qtbot.waitUntil(lambda: quick.is_done, timeout=240000)
    assert quick.result["ok"], quick.result["error"]
    child = mw.project.root / "runs" / quick.run_id
    assert json.loads((child / "config.json").read_text())["members"] == 2
    qtbot.waitUntil(lambda: quick.run_id in c.dock.snapshot_label.text(), timeout=20000)
    assert "warm start from" in c.dock.snapshot_label.text()
    assert c.dock.snapshot_label.text().endswith("; 2 models averaged")

    store.setValue(training_members.SETTINGS_KEY, "lots")
    assert training_members.training_members(store) == 3
    store.setValue(training_members.SETTINGS_KEY, 9)
    assert training_members.training_members(store) == training_members.MAX_MEMBERS
    mw.close_project()

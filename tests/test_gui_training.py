"""The training dock fed by real worker processes; retraining a tiny project from the Model menu."""

from __future__ import annotations

import asyncio
import sys
import textwrap

import pytest

pytest.importorskip("PySide6")
qasync = pytest.importorskip("qasync")

from pfes_gui.jobs import WorkerJob  # noqa: E402
from pfes_gui.training_dock import TrainingDock, format_eta, loss_parts, snapshot_text  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def loop(qapp):
    """A qasync loop that counts as running, so pytest-qt's waits also drive asyncio."""
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    for task in [t for t in asyncio.all_tasks(loop) if not t.done()]:
        task.cancel()
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)


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

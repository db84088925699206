"""WorkerJob and JobManager against real child processes (python -c scripts), on a qasync loop."""

from __future__ import annotations

import sys
import textwrap
import time

import pytest

pytest.importorskip("PySide6")
qasync = pytest.importorskip("qasync")

from pfes_gui.jobs import JobConflictError, JobManager, WorkerJob, pfes_command, project_key  # noqa: E402

pytestmark = pytest.mark.gui




def script(body: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(body)]


def wait_done(qtbot, job, timeout_ms=20000) -> dict:
    qtbot.waitUntil(lambda: job.is_done, timeout=timeout_ms)
    return job.result


def test_progress_lines_are_parsed_and_noise_is_logged(qtbot, loop):
    job = WorkerJob(script("""
        import json, sys
        print("some library banner")
        for i in range(3):
            print(json.dumps({"stage": "extract", "step": i + 1, "total": 3, "video": f"v{i}"}), flush=True)
        print('{"not": "an event"}')
        print("{broken json")
        print("warning on stderr", file=sys.stderr)
        print(json.dumps({"stage": "done", "run_id": "r1"}))
    """), name="extract")
    events, logs, errors, order = [], [], [], []
    job.started.connect(lambda: order.append("started"))
    job.progress.connect(events.append)
    job.log.connect(logs.append)
    job.error.connect(errors.append)
    job.finished.connect(lambda r: order.append("finished"))
    job.start()
    result = wait_done(qtbot, job)
    assert result["ok"] and result["returncode"] == 0 and not result["cancelled"]
    assert [e["stage"] for e in events] == ["extract"] * 3 + ["done"]
    assert [e["video"] for e in events[:3]] == ["v0", "v1", "v2"]
    assert result["run_id"] == "r1" and result["last_event"]["stage"] == "done"
    assert "some library banner" in logs and "{broken json" in logs
    assert '{"not": "an event"}' in logs and "warning on stderr" in logs
    assert errors == [] and order == ["started", "finished"]


def test_crash_reports_exit_code_and_stderr_tail(qtbot, loop):
    job = WorkerJob(script("""
        import json
        print(json.dumps({"stage": "train", "step": 1, "total": 5}), flush=True)
        1 / 0
    """), name="train")
    errors = []
    job.error.connect(errors.append)
    job.start()
    result = wait_done(qtbot, job)
    assert not result["ok"] and result["returncode"] == 1
    assert len(errors) == 1
    assert errors[0].startswith("train: worker exited with code 1")
    assert "ZeroDivisionError" in errors[0] and "ZeroDivisionError" in result["stderr_tail"]


def test_a_worker_killed_from_outside_is_named_so_not_by_its_shutdown_noise(qtbot, loop):
    # seen in a real window: a killed demo build showed "exited with code -9" followed by a
    # resource_tracker warning as if that were the reason
    job = WorkerJob(script("""
        import os, signal, sys
        print("UserWarning: resource_tracker: leaked semaphore objects", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """), name="build demo")
    job.start()
    result = wait_done(qtbot, job)
    assert result["returncode"] == -9 and not result["cancelled"]
    assert result["error"].startswith("build demo: the worker process was killed (SIGKILL)")
    assert "resource_tracker" not in result["error"] and "resource_tracker" in result["stderr_tail"]


def test_error_event_and_cli_error_line_become_the_message(qtbot, loop):
    job = WorkerJob(script("""
        import json, sys
        print(json.dumps({"stage": "error", "message": "no labels in the project"}))
        sys.exit(1)
    """), name="train")
    job.start()
    assert wait_done(qtbot, job)["error"] == "train: no labels in the project"
    job2 = WorkerJob(script("""
        import sys
        print("error: project is locked by pid 42", file=sys.stderr)
        sys.exit(1)
    """), name="spot")
    job2.start()
    assert wait_done(qtbot, job2)["error"] == "spot: project is locked by pid 42"


def test_cancel_terminates_then_kills_a_hanging_worker(qtbot, loop):
    # ignores SIGTERM, so only the kill after the grace period can stop it
    job = WorkerJob(script("""
        import json, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print(json.dumps({"stage": "train", "step": 0, "total": 100}), flush=True)
        time.sleep(60)
    """), name="train", grace_s=0.5)
    events = []
    job.progress.connect(events.append)
    job.start()
    qtbot.waitUntil(lambda: bool(events), timeout=10000)
    t0 = time.monotonic()
    job.cancel()
    result = wait_done(qtbot, job, timeout_ms=10000)
    assert time.monotonic() - t0 < 5
    assert result["cancelled"] and not result["ok"]
    assert result["returncode"] is not None and result["returncode"] < 0   # killed by a signal
    assert result["error"] == "train: cancelled"


def test_cancel_stops_a_polite_worker_with_sigterm(qtbot, loop):
    job = WorkerJob(script("""
        import time
        print("waiting", flush=True)
        time.sleep(60)
    """), name="extract", grace_s=10)
    logs = []
    job.log.connect(logs.append)
    job.start()
    qtbot.waitUntil(lambda: "waiting" in logs, timeout=10000)
    t0 = time.monotonic()
    job.cancel()
    result = wait_done(qtbot, job)
    assert time.monotonic() - t0 < 5     # did not need the 10 s grace period
    assert result["cancelled"] and result["returncode"] == -15


def test_missing_program_is_an_error_not_an_exception(qtbot, loop):
    job = WorkerJob(["/nonexistent/pfes-worker"], name="extract")
    errors = []
    job.error.connect(errors.append)
    job.start()
    result = wait_done(qtbot, job)
    assert not result["ok"] and errors and "could not start" in errors[0]


def test_gui_stays_responsive_while_a_worker_runs(qtbot, loop):
    """Qt timers keep firing during a job: the GUI thread only awaits pipes."""
    from PySide6.QtCore import QTimer

    job = WorkerJob(script("import time; time.sleep(1.0)"), name="train")
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    job.start()
    wait_done(qtbot, job)
    timer.stop()
    assert len(ticks) > 20
    assert max(b - a for a, b in zip(ticks, ticks[1:])) < 0.5


def test_manager_refuses_a_second_training_on_the_same_project(qtbot, loop, tmp_path):
    manager = JobManager()
    key = project_key("train", tmp_path)
    first = WorkerJob(script("import time; time.sleep(30)"), name="train", key=key, grace_s=1)
    manager.start(first)
    same = WorkerJob(script("pass"), name="train", key=project_key("train", tmp_path / "." ))
    with pytest.raises(JobConflictError):
        manager.start(same)
    other_project = WorkerJob(script("pass"), name="train",
                              key=project_key("train", tmp_path / "other"))
    manager.start(other_project)
    wait_done(qtbot, other_project)
    assert manager.is_busy(key)
    first.cancel()
    wait_done(qtbot, first)
    assert not manager.is_busy(key) and manager.jobs == []
    again = WorkerJob(script("pass"), name="train", key=key)
    manager.start(again)
    assert wait_done(qtbot, again)["ok"]


def test_pfes_command_runs_the_real_cli(qtbot, loop):
    """The argv works without the console script on PATH (bad input -> one-line error)."""
    argv = pfes_command("--version", progress=False)
    assert argv[:3] == [sys.executable, "-m", "pfes_core"]
    job = WorkerJob(argv, name="version")
    logs = []
    job.log.connect(logs.append)
    job.start()
    assert wait_done(qtbot, job)["ok"]
    assert any(line.startswith("pfes ") for line in logs)
    assert pfes_command("train", "P")[-2:] == ["--progress", "jsonl"]


def test_a_slot_that_runs_qt_events_cannot_hang_the_job(qtbot, loop):
    """A window-modal progress dialog runs Qt events inside setValue; doing that while the job's
    reader task is being stepped made asyncio refuse the other reader and the job hang."""
    from PySide6.QtWidgets import QApplication

    job = WorkerJob(script("""
        import json, sys
        for i in range(40):
            print(json.dumps({"stage": "build", "step": i + 1, "total": 40}), flush=True)
            print(f"noise {i}", file=sys.stderr, flush=True)
    """), name="build demo")
    events, tasks_during = [], []

    def modal_like_slot(event):
        import asyncio

        tasks_during.append(asyncio.current_task())
        events.append(event["step"])
        QApplication.processEvents()          # what QProgressDialog.setValue does when modal

    job.progress.connect(modal_like_slot)
    job.start()
    result = wait_done(qtbot, job, timeout_ms=15000)
    assert result["ok"], result
    assert events == list(range(1, 41))
    assert all(t is None for t in tasks_during)     # delivered from the event loop, not a task


def test_build_demo_cleans_its_folder_and_stale_ones(qtbot, loop, tmp_path, monkeypatch):
    """A failed first-start build leaves no .building-* folder; ones of dead apps are removed,
    a build of a live app is left alone."""
    import asyncio
    import os

    from pfes_gui import app, dialogs, jobs

    target = tmp_path / "demo.pfes"
    dead = app.building_folder(target, pid=2 ** 22 + 12345)     # no such process
    live = app.building_folder(target, pid=os.getppid())
    for folder in (dead, live):
        (folder / "features").mkdir(parents=True)
    # The worker makes its folder, then fails the way a broken build does.
    monkeypatch.setattr(jobs, "pfes_command", lambda _sub, out: script(f"""
        import os, sys
        os.makedirs({out!r} + "/features")
        print("error: no space left on device", file=sys.stderr)
        sys.exit(1)
    """))
    shown = []
    monkeypatch.setattr(dialogs, "error", lambda *a, **k: shown.append(a[1:3]))
    task = asyncio.ensure_future(app.build_demo(None, target))
    qtbot.waitUntil(task.done, timeout=20000)
    assert task.result() is False
    assert shown and "no space left" in shown[0][1]
    assert not dead.exists() and not app.building_folder(target).exists()
    assert live.exists() and not target.exists()

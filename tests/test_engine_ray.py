"""The Ray engine on a local Ray instance (2 CPUs, one per module): extraction of several videos and
a 2-fold LOSO give the local engine's results, progress of every task reaches the one jsonl
stream, a task killed mid-way is run again and leaves no partial file, cancel stops every task,
a failed fold comes back as one error line naming it, and so does a cluster whose head dies."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the Ray engine's tests need Ray: pip install 'pfes-studio[cluster]'")

import h5py  # noqa: E402

from pfes_core import runs  # noqa: E402
from pfes_core.cli import main  # noqa: E402
from pfes_core.engine import ray_engine  # noqa: E402
from pfes_core.errors import CancelledError  # noqa: E402
from pfes_core.features import read_features  # noqa: E402
from pfes_core.project import Project  # noqa: E402

from test_training import make_project, make_videos  # noqa: E402
from video_helpers import SINGLE_FACE, face_clip  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _video_project(tmp_path, clips: dict[str, tuple[int, int]]):
    with Project.create(tmp_path / "p") as proj:
        for vid, (start, n) in clips.items():
            path = face_clip(tmp_path / f"{vid}.mp4", start=start, n=n,
                             **({"source": SINGLE_FACE} if vid == "a" else {}))
            proj.add_video(path, video_id=vid)
        proj.save()
        return proj.root


def _features(root, vid):
    return read_features(root / "features" / f"{vid}.h5")


def _partial_files(root):
    return sorted(p.name for p in (root / "features").glob(".*.tmp"))


def test_extraction_on_ray_equals_local_and_reports_every_task(tmp_path, capsys):
    root = _video_project(tmp_path, {"a": (0, 16), "b": (200, 16), "c": (400, 16)})
    assert main(["extract", str(root), "--progress", "none"]) == 0
    local = {v: _features(root, v) for v in "abc"}
    capsys.readouterr()
    assert main(["extract", str(root), "--engine", "ray", "--force", "--progress", "jsonl"]) == 0
    events = _events(capsys.readouterr().out)
    for v in "abc":
        remote = _features(root, v)
        for name in ("model_input", "landmarks", "roi_vectors", "face_found"):
            assert np.array_equal(getattr(remote, name), getattr(local[v], name)), (v, name)
    progress = [e for e in events if e["stage"] == "extract" and "phase" in e]
    assert {e["video"] for e in progress} == {"a", "b", "c"}
    assert all("host" in e and isinstance(e["pid"], int) for e in progress)
    assert {e["video"]: e["status"] for e in events if "status" in e} == dict.fromkeys("abc", "computed")
    assert events[-1]["stage"] == "done" and events[-1]["videos"] == 3
    # a share of the videos, on Ray: reused, not recomputed
    assert main(["extract", str(root), "--engine", "ray", "--shard", "1/3", "--progress", "jsonl"]) == 0
    assert [e["status"] for e in _events(capsys.readouterr().out) if "status" in e] == ["up to date"]


def test_a_killed_task_is_run_again_and_leaves_no_partial_file(tmp_path):
    root = _video_project(tmp_path, {"a": (0, 40), "b": (300, 40)})
    with Project.open(root, readonly=True) as project:
        frames = {v: r.n_frames for v, r in project.videos.items()}
    killed: list[int] = []
    finished: dict[str, bool] = {}
    failed: dict[str, str] = {}

    def show(event):
        # kill the worker of video b once, as its extraction ends (about to write its file)
        if event["video"] == "b" and not killed and event.get("step", 0) >= event.get("total", 1) - 8:
            killed.append(event["pid"])
            os.kill(event["pid"], signal.SIGKILL)

    ray_engine.extract(str(root), root / "features", ["a", "b"], frames, None, False, show,
                       lambda vid, path, computed: finished.__setitem__(vid, computed),
                       failed.__setitem__)
    assert killed and not failed and finished == {"a": True, "b": True}
    assert _partial_files(root) == []
    b = _features(root, "b")
    assert b.model_input.shape == (40, 17, 10, 2) and np.isfinite(b.model_input).all()


def test_cancel_stops_every_task(tmp_path):
    root = _video_project(tmp_path, {v: (100 * i, 150) for i, v in enumerate("abcd")})
    with Project.open(root, readonly=True) as project:
        frames = {v: r.n_frames for v, r in project.videos.items()}
    cancel = threading.Event()
    pids: set[int] = set()

    def show(event):
        pids.add(event["pid"])
        if len(pids) == 2 or event.get("step", 0) > 40:
            cancel.set()

    t0 = time.monotonic()
    with pytest.raises(CancelledError):
        ray_engine.extract(str(root), root / "features", list("abcd"), frames, None, False, show,
                           lambda *a: pytest.fail("a cancelled extraction finished"),
                           lambda vid, msg: None, cancel=cancel)
    assert time.monotonic() - t0 < 60
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert pids and not any(_alive(p) for p in pids), "a cancelled task's worker is still running"
    time.sleep(2)                   # the two queued videos were never started either
    assert not list((root / "features").glob("*.h5")) and _partial_files(root) == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:                            # a zombie (killed, not yet reaped) is not running
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_loso_folds_on_ray_equal_local_folds(tmp_path, capsys):
    root = make_project(tmp_path, make_videos(seed=5, n=2, subjects=2))
    common = ["train", str(root), "--loso", "--epochs", "2", "--device", "cpu", "--progress", "jsonl"]
    assert main(common) == 0
    assert main(common + ["--engine", "ray"]) == 0
    events = _events(capsys.readouterr().out)
    local_run, ray_run = [r for r in runs.list_runs(root)]
    assert local_run.status == ray_run.status == "done"
    for fold in ("s0", "s1"):
        assert runs.checkpoint_path(ray_run.path, fold).exists()
    a = runs.read_predictions(local_run.path / "predictions.h5")
    b = runs.read_predictions(ray_run.path / "predictions.h5")
    assert set(a) == set(b) == {"v0", "v1", "unlabelledv0"}
    for v in a:
        assert a[v].fold == b[v].fold
        np.testing.assert_allclose(b[v].intensity, a[v].intensity, atol=1e-4)
        np.testing.assert_allclose(b[v].apex, a[v].apex, atol=1e-4)
    train = [e for e in events if e["stage"] == "train" and "step" in e and "pid" in e]
    assert {e["fold"] for e in train} == {"s0", "s1"}
    steps = [e["step"] for e in train]
    assert steps == sorted(steps) and steps[-1] == train[-1]["total"]

    # spotting as Ray tasks gives the local engine's predictions
    assert main(["spot", str(root), "--run", ray_run.run_id, "--engine", "ray", "--progress", "none"]) == 0
    c = runs.read_predictions(ray_run.path / "predictions.h5")
    for v in b:
        np.testing.assert_allclose(c[v].intensity, b[v].intensity, atol=1e-5)

    # scoring as a Ray task gives the local figures, under either protocol
    from pfes_core.types import Interval

    with Project.open(root) as project:
        project.set_reference([Interval(lb.video, lb.cls, max(lb.frame - 6, 0), lb.frame, lb.frame + 6)
                               for lb in project.labels.all()])
        project.save()
    for protocol in ("megc", "reference"):
        figures = []
        for engine in ([], ["--engine", "ray"]):
            capsys.readouterr()
            assert main(["evaluate", str(root), "--run", ray_run.run_id, "--protocol", protocol,
                         "--json", *engine]) == 0
            figures.append(json.loads(capsys.readouterr().out))
        assert figures[0] == figures[1] and protocol in json.dumps(figures[0])

    # a failing fold is one error line naming it
    with h5py.File(root / "features" / "v1.h5", "r+") as h5:
        h5["model_input"][5] = np.nan
    capsys.readouterr()
    assert main(common[:-2] + ["--progress", "none", "--engine", "ray"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "fold s0 failed" in err[0] and "v1.h5" in err[0] and "NaN" in err[0]
    assert runs.list_runs(root)[-1].status == "failed"


def test_a_lost_cluster_is_one_error_line(tmp_path):
    """The cluster's head dies mid-extraction: the command ends with one `error:` line saying the
    connection was lost (the GUI shows it as a dialog), not a hang or a traceback."""
    import shutil
    import socket
    import subprocess
    import sys
    import tempfile

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from pfes_core.video import open_video
    from video_helpers import write_video

    reader = open_video(SINGLE_FACE)      # 72 frames: looped 8 times so the task outlives the kill
    frames = list(reader.iter_frames(0, reader.n_frames)) * 8
    reader.close()
    with Project.create(tmp_path / "p") as proj:
        proj.add_video(write_video(tmp_path / "a.mp4", frames, fps=24), video_id="a")
        proj.save()
        root = proj.root
    env = dict(os.environ, RAY_AUTH_MODE="token")
    temp = tempfile.mkdtemp(prefix="rayh", dir="/tmp")
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    head = subprocess.Popen([ray_bin, "start", "--head", "--block", f"--port={port}", "--num-cpus=1",
                             "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        cli = subprocess.Popen([sys.executable, "-m", "pfes_core", "extract", str(root), "--engine", "ray",
                                "--ray-address", f"127.0.0.1:{port}", "--progress", "jsonl"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line in cli.stdout:                     # the task runs: now the head goes away
            if '"phase"' in line:
                break
        os.killpg(head.pid, signal.SIGKILL)
        _, err = cli.communicate(timeout=120)
        assert cli.returncode == 1
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and errors[0].startswith("error: lost the connection to the Ray cluster")
        # the worker may have finished its atomic write before the head died: a file that is
        # there is whole; nothing half-written is left
        assert not _partial_files(root)
        if (root / "features" / "a.h5").exists():
            assert _features(root, "a").model_input.shape[0] == len(frames)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait(30)
        shutil.rmtree(temp, ignore_errors=True)

"""`pfes extract`: JSON-lines progress, parallel spawned workers, failures, Ctrl-C leaves no cache."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pfes_core.features import load_features
from pfes_core.project import Project
from video_helpers import NO_FACE, SINGLE_FACE, WOLFGANG, face_clip


def _project(tmp_path, videos):
    with Project.create(tmp_path / "p") as proj:
        for vid, path in videos.items():
            proj.add_video(path, video_id=vid)
        proj.save()
        return proj.root


def _pfes(*args, **kw):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "pfes_core", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300, **kw)


def _events(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_parallel_jsonl_extract_and_reuse(tmp_path):
    a = face_clip(tmp_path / "a.mp4", start=0, n=24, source=SINGLE_FACE)
    b = face_clip(tmp_path / "b.mp4", start=200, n=24)
    root = _project(tmp_path, {"a": a, "b": b})
    res = _pfes("extract", root, "--jobs", "2", "--progress", "jsonl", "--flow", "dis")
    assert res.returncode == 0, res.stderr
    events = _events(res.stdout)
    progress = [e for e in events if e["stage"] == "extract" and "phase" in e]
    assert {e["video"] for e in progress} == {"a", "b"}
    assert all(e["total"] == 48 and 0 <= e["step"] <= 48 for e in progress)
    assert events[-1]["stage"] == "done" and events[-1]["videos"] == 2
    for vid in ("a", "b"):
        assert load_features(root, vid).model_input.shape == (24, 17, 10, 2)
    # Up to date: nothing recomputed; --force recomputes one chosen video.
    res = _pfes("extract", root, "--progress", "jsonl")
    status = {e["video"]: e["status"] for e in _events(res.stdout) if "status" in e}
    assert status == {"a": "up to date", "b": "up to date"}
    res = _pfes("extract", root, "--videos", "b", "--force", "--progress", "jsonl")
    status = {e["video"]: e["status"] for e in _events(res.stdout) if "status" in e}
    assert status == {"b": "computed"}


def test_failure_is_reported_and_other_videos_done(tmp_path):
    a = face_clip(tmp_path / "a.mp4", start=0, n=20, source=SINGLE_FACE)
    root = _project(tmp_path, {"a": a, "empty": NO_FACE})
    res = _pfes("extract", root, "--progress", "jsonl")
    assert res.returncode == 1
    events = _events(res.stdout)
    assert events[-1]["stage"] == "error" and "no face found in any frame of no_face.mp4" in \
        events[-1]["message"]
    assert "error: 1 of 2 videos failed" in res.stderr
    assert load_features(root, "a") is not None
    res = _pfes("extract", root, "--videos", "nope")
    assert res.returncode == 1 and "unknown video ids: nope" in res.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_leaves_no_half_written_cache(tmp_path):
    root = _project(tmp_path, {"w": WOLFGANG})
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "pfes_core", "extract", str(root), "--progress",
                             "jsonl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        for line in proc.stdout:           # interrupt mid-extraction, once it is under way
            if line.startswith("{") and json.loads(line).get("step", 0) >= 30:
                break
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert list((root / "features").iterdir()) == []
    assert load_features(root, "w") is None


def test_ctrl_c_flag_survives_a_swallowed_interrupt():
    """Even when something swallows the KeyboardInterrupt, the flag extraction polls stays set."""
    from pfes_core.cli.extract_cmds import _sigint_flag

    before = signal.getsignal(signal.SIGINT)
    with _sigint_flag() as interrupted:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
        except KeyboardInterrupt:
            pass                                  # what a C extension might do
        assert interrupted.is_set()
    assert signal.getsignal(signal.SIGINT) is before

"""Issue 16, item 8: workers exit when their parent dies.

`pfes extract --jobs 2` SIGKILLed left its two workers and the multiprocessing resource tracker
running (~265 MB each, still alive 80 s later). The GUI's workers are `pfes ... --progress jsonl`
processes: killing the GUI must end them too. Both must be gone within a few seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from video_helpers import CARPHONE, WOLFGANG

from pfes_core.project import Project

DEADLINE_S = 6.0
PFES = [sys.executable, "-m", "pfes_core"]


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _wait_gone(pids: list[int]) -> list[int]:
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        alive = [p for p in pids if _alive(p)]
        if not alive:
            return []
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _kill_all(pids) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


@pytest.fixture
def two_video_project(tmp_path):
    root = tmp_path / "p.pfes"
    with Project.create(root) as p:
        p.add_video(WOLFGANG)
        p.add_video(CARPHONE)
        p.save()
    return root


def _first_progress(stream_path: Path, proc, timeout: float = 120.0) -> None:
    """Wait until extraction is under way (a per-frame progress event was written)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, "the command ended before extraction started"
        for line in stream_path.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("stage") == "extract" and event.get("step", 0) > 0:
                return
        time.sleep(0.2)
    raise AssertionError("extraction did not start")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_sigkilled_extract_leaves_no_workers(two_video_project, tmp_path):
    log = tmp_path / "events.jsonl"
    with open(log, "w") as out:
        proc = subprocess.Popen(PFES + ["extract", str(two_video_project), "--jobs", "2",
                                        "--force", "--progress", "jsonl"],
                                stdout=out, stderr=subprocess.DEVNULL)
    kids: list[int] = []
    try:
        _first_progress(log, proc)
        kids = _children(proc.pid)
        assert len(kids) >= 3, kids          # two workers and the resource tracker
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _wait_gone(kids) == [], "workers outlived their SIGKILLed parent"
    finally:
        _kill_all([proc.pid, *kids])


_MIDDLE = """
import subprocess, sys, time
child = subprocess.Popen(sys.argv[2:], stdout=open(sys.argv[1], "w"), stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_gui_style_worker_exits_when_its_parent_dies(two_video_project, tmp_path):
    """A `--progress jsonl` command (as the GUI starts them) whose parent is SIGKILLed stops, and
    stops cleanly: no temporary features file is left behind."""
    log = tmp_path / "events.jsonl"
    middle = subprocess.Popen([sys.executable, "-c", _MIDDLE, str(log), *PFES, "extract",
                               str(two_video_project), "--force", "--progress", "jsonl"],
                              stdout=subprocess.PIPE, text=True)
    worker = int(middle.stdout.readline())
    try:
        _first_progress(log, middle)
        middle.send_signal(signal.SIGKILL)
        middle.wait()
        assert _wait_gone([worker]) == [], "the worker outlived its SIGKILLed parent"
        leftovers = [p.name for p in (two_video_project / "features").glob("*")
                     if p.suffix != ".h5"] if (two_video_project / "features").exists() else []
        assert leftovers == []
    finally:
        _kill_all([middle.pid, worker])

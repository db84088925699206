"""A process killed mid-burst loses no acknowledged edit; torn journal lines and damaged files are survivable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from pfes_core.errors import ProjectError
from pfes_core.labels import AddLabel
from pfes_core.project import Project

WORKER = textwrap.dedent("""
    import sys
    from pfes_core.labels import AddLabel
    from pfes_core.project import Project

    project = Project.open(sys.argv[1])
    print("ready", flush=True)
    for frame in range(50_000):
        project.apply(AddLabel("v1", frame, "ME", "crash", created=float(frame)))
        print("add", frame, flush=True)  # acknowledged only after apply() returned
""")


def _setup(tmp_path):
    project = Project.create(tmp_path / "p")
    project.add_video(tmp_path / "v1.mp4", video_id="v1", fps=30, n_frames=100_000, fingerprint="f")
    project.apply(AddLabel("v1", 99_999, "MaE"))
    project.save()
    project.close()
    return project.root


def test_sigkill_mid_burst_loses_no_acknowledged_edit(tmp_path):
    root = _setup(tmp_path)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    proc = subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.PIPE, text=True)
    acked: list[int] = []
    assert proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 30
    while len(acked) < 300 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acked.append(int(line.split()[1]))
    os.kill(proc.pid, signal.SIGKILL)
    # read what it printed before it died: those were acknowledged too. Only whole lines count:
    # the kill can land while print() is writing, leaving a torn "add " without its number.
    rest = proc.stdout.read()
    proc.wait(timeout=10)
    whole = rest.split("\n")[:-1]          # after the last newline: a torn line, or nothing
    acked += [int(line.split()[1]) for line in whole if line.startswith("add ")]
    assert proc.returncode == -signal.SIGKILL and len(acked) >= 300

    with Project.open(root) as project:  # the dead writer's lock is stale and taken over
        frames = {lb.frame for lb in project.labels.for_video("v1") if lb.cls == "ME"}
        assert set(acked) <= frames
        assert project.recovered_edits >= len(acked)
        assert project.labels.get("v1", 99_999, "MaE") is not None  # the saved state is intact
        assert project._lock.took_over is not None
        project.save()
    with Project.open(root) as again:
        assert again.recovered_edits == 0 and len(again.labels) == len(frames) + 1


def test_torn_last_journal_line_is_ignored_and_cut(tmp_path):
    root = _setup(tmp_path)
    with Project.open(root) as project:
        project.apply(AddLabel("v1", 1, "ME"))
        project.apply(AddLabel("v1", 2, "ME"))
    journal = root / "journal.jsonl"
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"op":"apply","edit":{"kind":"add","video":"v1","fra')  # crash mid-write
    with Project.open(root) as project:
        assert project.recovered_edits == 2
        assert [lb.frame for lb in project.labels.for_video("v1")] == [1, 2, 99_999]
        project.apply(AddLabel("v1", 3, "ME"))  # appended after the cut, not glued to the torn bytes
    with Project.open(root) as project:
        assert project.recovered_edits == 3 and project.journal_skipped == 0
        assert [lb.frame for lb in project.labels.for_video("v1")] == [1, 2, 3, 99_999]


def test_crash_during_save_keeps_the_old_project(tmp_path):
    """A leftover project.h5.tmp (killed mid-save) is ignored; project.h5 and the journal still hold everything."""
    root = _setup(tmp_path)
    with Project.open(root) as project:
        project.apply(AddLabel("v1", 5, "ME"))
    (root / "project.h5.tmp").write_bytes(b"half-written")
    with Project.open(root) as project:
        assert project.recovered_edits == 1 and project.labels.get("v1", 5, "ME") is not None
        project.save()
    assert not (root / "project.h5.tmp").exists()


def test_truncated_project_file_error_offers_backup(tmp_path):
    root = _setup(tmp_path)
    h5 = root / "project.h5"
    h5.write_bytes(h5.read_bytes()[:1000])
    with pytest.raises(ProjectError, match=r"cannot be read.*project\.h5\.bak1.*restore-backup"):
        Project.open(root)
    assert not (root / "project.lock").exists()

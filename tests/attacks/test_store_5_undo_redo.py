"""Issue 16, item 5: library undo/redo across a save is crash safe.

Undo used to journal a bare "undo" that the next open replayed against an undo stack the save had
left behind: add A, save, undo, crash -> A came back. Undo and redo now journal the edit they
actually applied, as the GUI does.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap

from store_common import REPO, make_project

from pfes_core.labels import AddLabel, DeleteLabel, MoveLabel
from pfes_core.project import Project


def _crash(project: Project) -> None:
    """What a killed process leaves: the journal as written, no save, no clean close."""
    project._journal.close()
    project._lock.release()
    project._closed = True


def _state(project: Project) -> list[tuple]:
    return sorted((lb.video, lb.frame, lb.cls, lb.created, lb.modified) for lb in project.labels.all())


def test_add_save_undo_crash(tmp_path):
    root = make_project(tmp_path, labels=0)
    project = Project.open(root)
    project.apply(AddLabel("v1", 7, "ME"))
    project.save()
    project.undo()
    _crash(project)
    with Project.open(root) as back:
        assert len(back.labels) == 0


def test_add_save_add_undo_undo_redo_crash(tmp_path):
    root = make_project(tmp_path, labels=0)
    project = Project.open(root)
    project.apply(AddLabel("v1", 1, "ME"))   # X
    project.save()
    project.apply(AddLabel("v1", 2, "ME"))   # A
    project.undo()
    project.undo()
    project.redo()
    expected = _state(project)
    assert [f for _, f, *_ in expected] == [1]
    _crash(project)
    with Project.open(root) as back:
        assert _state(back) == expected


def _random_session(project: Project, rng: random.Random, steps: int) -> None:
    for _ in range(steps):
        op = rng.random()
        labels = project.labels.all()
        if op < 0.35 or not labels:
            frame = rng.randrange(100)
            if project.labels.get("v1", frame, "ME") is None:
                project.apply(AddLabel("v1", frame, "ME", created=float(rng.randrange(1000))))
        elif op < 0.45:
            lb = rng.choice(labels)
            project.apply(DeleteLabel(lb.video, lb.frame, lb.cls))
        elif op < 0.55:
            lb = rng.choice(labels)
            to = rng.randrange(100)
            if project.labels.get("v1", to, lb.cls) is None:
                project.apply(MoveLabel(lb.video, lb.frame, lb.cls, to, modified=float(rng.randrange(1000))))
        elif op < 0.75:
            project.undo()
        elif op < 0.9:
            project.redo()
        else:
            project.save()


def test_thirty_random_sessions_with_saves_undo_redo_and_crashes(tmp_path):
    for seed in range(30):
        root = make_project(tmp_path / str(seed), labels=0)
        rng = random.Random(seed)
        project = Project.open(root)
        for _ in range(3):                      # three crashes per session
            _random_session(project, rng, 25)
            expected = _state(project)
            _crash(project)
            project = Project.open(root)
            assert _state(project) == expected, f"seed {seed}"
            assert project.rejected_edits == 0
        project.close()


WORKER = textwrap.dedent("""
    import random, sys
    sys.path.insert(0, sys.argv[3])
    from test_store_5_undo_redo import _random_session, _state
    from pfes_core.project import Project
    project = Project.open(sys.argv[1])
    _random_session(project, random.Random(int(sys.argv[2])), 40)
    print(repr(_state(project)), flush=True)
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_sigkilled_sessions_replay_exactly(tmp_path):
    for seed in (101, 102, 103):
        root = make_project(tmp_path / str(seed), labels=0)
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = subprocess.run([sys.executable, "-c", WORKER, str(root), str(seed), str(REPO / "tests" / "attacks")],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        with Project.open(root) as back:
            assert repr(_state(back)) == proc.stdout.strip()

"""Shared by the tests/attacks/test_store_*.py files: a small project and a CLI runner."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

from pfes_core.cli import main
from pfes_core.labels import AddLabel
from pfes_core.project import Project

REPO = Path(__file__).resolve().parents[2]
TEMP_GLOBS = ("*.tmp", ".*.tmp")


def make_project(tmp_path: Path, name: str = "p", labels: int = 2) -> Path:
    """A saved project with video "v1" (100 frames) and `labels` ME labels; returns its root."""
    with Project.create(tmp_path / name) as project:
        project.add_video(tmp_path / "v1.mp4", subject="s1", video_id="v1", fps=25.0, n_frames=100,
                          fingerprint="fp")
        for frame in range(labels):
            project.apply(AddLabel("v1", frame * 10, "ME", "ann", created=1.0))
        project.save()
        return project.root


def run_cli(*args: str) -> tuple[int, str, str]:
    """`pfes ARGS` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def run_cli_process(*args: str, preexec=None, cwd=None) -> subprocess.CompletedProcess:
    """`python -m pfes_core ARGS` in a child process (for resource limits and crashes)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "pfes_core", *map(str, args)], capture_output=True, text=True,
                          preexec_fn=preexec, env=env, cwd=cwd, timeout=120)


def assert_one_error(stderr: str, *needles: str) -> None:
    """Exactly one `error:` line and no traceback; it contains every needle."""
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def temp_files(root: Path) -> list[str]:
    return sorted(p.name for pattern in TEMP_GLOBS for p in root.rglob(pattern))

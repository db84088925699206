"""Issue 16, item 3: a full disk gives a clear error and loses nothing that was acknowledged.

Before: h5py tracebacks, a segfault in `labels import` with 8 KiB free, the label of a "failed"
import back at the next open, the next edit glued onto a torn journal line, temp files left.
Three ways to fill the disk: a small tmpfs (when the tests run as root), a file-size limit
(RLIMIT_FSIZE: the kernel refuses writes past it, unprivileged), and a faked ENOSPC for the
journal's writes (to control exactly where an append breaks).
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import uuid

import pytest
from store_common import assert_one_error, make_project, run_cli_process, temp_files

from pfes_core.errors import ProjectError
from pfes_core.journal import read_journal
from pfes_core.labels import AddLabel
from pfes_core.project import Project


def _file_size_limit(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def _labels_csv(path, frames) -> None:
    path.write_text("video,frame,class\n" + "".join(f"v1,{f},MaE\n" for f in frames))


def _assert_import_left_no_trace(root) -> None:
    assert temp_files(root) == []
    with Project.open(root) as project:
        assert [lb.frame for lb in project.labels.all() if lb.cls == "MaE"] == []
        assert project.recovered_edits == 0 and project.rejected_edits == 0


def test_import_whose_save_fails_leaves_nothing_in_the_journal(tmp_path):
    """The journal line fits under the limit, project.h5 does not: the import must not reappear."""
    root = make_project(tmp_path)
    csv = tmp_path / "labels.csv"
    _labels_csv(csv, [1, 2, 3])
    h5_size = (root / "project.h5").stat().st_size
    proc = run_cli_process("labels", "import", root, csv, preexec=_file_size_limit(h5_size - 1000))
    assert proc.returncode == 1, proc.stderr
    assert_one_error(proc.stderr, "could not save", "project.h5")
    _assert_import_left_no_trace(root)


def test_init_and_add_video_on_a_full_disk_are_clear_errors(tmp_path):
    proc = run_cli_process("init", tmp_path / "new", preexec=_file_size_limit(2000))
    assert proc.returncode == 1
    assert_one_error(proc.stderr, "could not save")
    assert not (tmp_path / "new.pfes").exists()  # nothing half-made is left


def test_failed_journal_append_is_cut_back_and_the_next_edit_is_whole(tmp_path, monkeypatch):
    """The GUI's case: an append fails halfway, the session goes on, later edits must replay."""
    root = make_project(tmp_path, labels=0)
    project = Project.open(root)
    project.apply(AddLabel("v1", 1, "ME"))
    real_write = os.write
    calls = {"n": 0}

    def half_then_enospc(fd, data):
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_enospc)
    with pytest.raises(ProjectError, match="could not record the edit.*No space left.*not made"):
        project.apply(AddLabel("v1", 2, "ME"))
    monkeypatch.setattr(os, "write", real_write)
    assert project.labels.get("v1", 2, "ME") is None  # not acknowledged, not in memory either
    with pytest.raises(ProjectError):
        monkeypatch.setattr(os, "write", half_then_enospc)
        calls["n"] = 1
        project.undo()
    monkeypatch.setattr(os, "write", real_write)
    assert project.labels.get("v1", 1, "ME") is not None  # the failed undo changed nothing
    project.apply(AddLabel("v1", 3, "ME"))
    project._journal.close()          # a crash: no save, no clean close
    project._lock.release()
    contents = read_journal(root / "journal.jsonl")
    assert contents.rejected == [] and len(contents.records) == 2
    with Project.open(root) as back:
        assert sorted(lb.frame for lb in back.labels.all()) == [1, 3]
        assert back.rejected_edits == 0


def test_save_that_fails_keeps_project_and_journal(tmp_path):
    """A library save past the limit: ProjectError, old project.h5 intact, edits still journaled."""
    root = make_project(tmp_path)
    size = (root / "project.h5").stat().st_size
    script = f"""
import json, sys
from pfes_core.errors import PfesError
from pfes_core.labels import AddLabel
from pfes_core.project import Project
p = Project.open({str(root)!r})
p.apply(AddLabel("v1", 55, "MaE"))
try:
    p.save()
except PfesError as exc:
    print(json.dumps({{"error": str(exc)}}))
"""
    env = dict(os.environ)
    proc = subprocess.run([os.sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          preexec_fn=_file_size_limit(size - 500), timeout=120)
    assert proc.returncode == 0, proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert "could not save" in error and "unchanged" in error
    assert temp_files(root) == []
    with Project.open(root) as back:
        assert back.labels.get("v1", 55, "MaE") is not None and back.recovered_edits == 1


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 256 KiB tmpfs (root only); unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the RLIMIT_FSIZE tests cover the same paths")
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def _fill(folder, leave: int) -> None:
    """Fill the file system of `folder` until about `leave` bytes are free."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    with open(folder / f"filler-{uuid.uuid4().hex}", "wb") as fh:
        try:
            fh.write(b"\0" * max(0, free - leave))
        except OSError:
            pass


def test_real_full_disk_import_and_edits(small_tmpfs, tmp_path):
    root = make_project(small_tmpfs)
    csv = tmp_path / "labels.csv"
    _labels_csv(csv, range(1, 60))
    _fill(small_tmpfs, 8 * 1024)  # the attack's 8 KiB
    proc = run_cli_process("labels", "import", root, csv)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)  # not 139 (segfault)
    assert_one_error(proc.stderr, "project.h5")
    assert temp_files(small_tmpfs) == []
    with Project.open(root) as project:
        assert project.recovered_edits == 0 and len(project.labels) == 2
        acked = []
        for frame in range(20, 100):          # edit until the disk is full
            try:
                project.apply(AddLabel("v1", frame, "MaE", "x" * 200))
            except ProjectError as exc:
                assert "No space left" in str(exc)
                break
            acked.append(frame)
        with pytest.raises(ProjectError, match="could not save"):
            project.save()
    assert temp_files(small_tmpfs) == []
    for filler in small_tmpfs.glob("filler-*"):
        filler.unlink()
    with Project.open(root) as project:
        assert [lb.frame for lb in project.labels.all() if lb.cls == "MaE"] == acked
        project.save()

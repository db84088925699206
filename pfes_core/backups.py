"""Backups of project.h5 (bak1..3, rotated by each save) and bringing one back.

Why in their own module: they are what the user reaches for when project.h5 is damaged, from
the CLI (`pfes restore-backup`), the app's dialog and the open error message alike.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

from . import atomic
from .errors import ProjectError
from .journal import JOURNAL_NAME, read_journal
from .lock import ProjectLock
from .project_file import H5_NAME, Unreadable, read_state, schema_version_of

SUFFIX = ".pfes"
N_BACKUPS = 3


def project_root(path: str | os.PathLike, must_exist: bool = True) -> Path:
    """The project folder for `path`: the folder itself, NAME (when NAME.pfes exists) or its project.h5."""
    p = Path(path).expanduser()
    if p.name == H5_NAME or p.name.startswith(H5_NAME + ".bak"):
        p = p.parent
    if must_exist and not p.is_dir() and p.suffix != SUFFIX and p.with_name(p.name + SUFFIX).is_dir():
        p = p.with_name(p.name + SUFFIX)
    return p.absolute()


def backup_path(root: Path, k: int) -> Path:
    return root / f"{H5_NAME}.bak{k}"


def fsync_dir(path: Path) -> None:
    try:
        atomic.fsync_file(path)
    except OSError:  # not supported everywhere (e.g. Windows); the rename is still atomic
        pass


def list_backups(path: str | os.PathLike) -> list[dict]:
    """Backups newest first: {'index', 'path', 'ok', 'saved', 'labels', 'error'}."""
    root = project_root(path)
    out = []
    for k in range(1, N_BACKUPS + 1):
        p = backup_path(root, k)
        if not p.exists():
            continue
        try:
            st = read_state(p)
            out.append({"index": k, "path": p, "ok": True, "saved": st.saved, "labels": len(st.labels),
                        "error": None})
        except (ProjectError, Unreadable) as exc:
            out.append({"index": k, "path": p, "ok": False, "saved": None, "labels": None, "error": str(exc)})
    return out


def newest_good_backup(path: str | os.PathLike) -> dict | None:
    for b in list_backups(path):
        if b["ok"]:
            return b
    return None


def _stamp(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "?"


def unreadable_message(root: Path, reason: str) -> str:
    good = newest_good_backup(root)
    if good is None:
        offer = "no readable backup (project.h5.bak1..3) was found"
    else:
        offer = (f"the newest good backup is {good['path'].name} (saved {_stamp(good['saved'])}, "
                 f"{good['labels']} labels): run `pfes restore-backup {root}` or open it with "
                 f"Project.open(path, from_backup={good['index']})")
    return f"project.h5 in {root} cannot be read: {reason}; {offer}"


def restore_backup(path: str | os.PathLike, backup: int | None = None) -> Path:
    """Make a backup the current project.h5 (the newest good one by default); returns the backup used.

    The damaged project.h5 is kept as project.h5.damaged-<time>; a journal of unsaved edits made on
    top of it is kept as journal.jsonl.orphaned-<time> (it cannot be replayed on an older state).
    A project.h5 written by a newer schema than the backup is not replaced (that would silently
    drop whatever the newer version stored): update P-FES Studio instead.
    """
    root = project_root(path)
    if not root.is_dir():
        raise ProjectError(f"no project at {root}")
    lock = ProjectLock(root)
    lock.acquire()
    try:
        if backup is None:
            good = newest_good_backup(root)
            if good is None:
                raise ProjectError(f"no readable backup (project.h5.bak1..3) in {root}")
            src = good["path"]
        else:
            src = backup_path(root, int(backup))
            try:
                read_state(src)
            except Unreadable as exc:
                raise ProjectError(f"backup {src.name} cannot be read either: {exc}") from None
        h5 = root / H5_NAME
        current, restored = schema_version_of(h5), schema_version_of(src)
        if current is not None and restored is not None and current > restored:
            raise ProjectError(f"{h5} uses project schema {current}, newer than {src.name} (schema {restored}); "
                               f"restoring would drop what the newer version saved: open it with a "
                               f"P-FES Studio that reads schema {current} instead")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        journal = root / JOURNAL_NAME
        try:
            if h5.exists():
                copy_or_link(h5, root / f"{H5_NAME}.damaged-{stamp}")
            if read_journal(journal).records:
                os.replace(journal, root / f"{JOURNAL_NAME}.orphaned-{stamp}")
            with atomic.atomic_target(h5) as tmp:
                shutil.copyfile(src, tmp)
            fsync_dir(root)
        except OSError as exc:
            raise ProjectError(f"could not restore {src.name} in {root} ({exc.strerror or exc}); the damaged "
                               f"file is kept as {H5_NAME}.damaged-{stamp}") from None
        return src
    finally:
        lock.release()


def copy_or_link(src: Path, dst: Path) -> None:
    """`dst` becomes a second name of `src` (a hard link), or an atomic copy where links are unsupported."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(dst)
    try:
        os.link(src, dst)
    except OSError:
        with atomic.atomic_target(dst) as tmp:
            shutil.copyfile(src, tmp)

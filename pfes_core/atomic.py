"""One way to write a file: all or nothing, with the file mode the user's umask asks for.

Why one helper: a half-written export, label file, run file or features file after a crash or a
full disk loses work, and a temp file made with `tempfile.mkstemp` is created 0600, so a file
renamed from it cannot be read by lab-mates. Every writer in `pfes_core` that creates a file the
user keeps goes through `atomic_target` (or its text/bytes shorthands):

1. a temp file is created beside the target (same file system, so the rename is atomic) with
   ``0o666 & ~umask`` - 0644 under the usual umask 022 - the mode `open()` would give a new file;
2. the caller writes it (by path: h5py, torch.save and plain `open(..., "w")` keep the mode of a
   file that exists);
3. it is flushed to disk (fsync) and renamed over the target; with ``overwrite=False`` it is
   hard-linked instead, which fails when the target appeared meanwhile, so nothing is clobbered.

On any error the temp file is removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path
from typing import Iterator


def fsync_file(path: Path) -> None:
    """Flush a written file's data to the disk (a rename is durable only after this)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _reserve_temp(path: Path) -> Path:
    """Create an empty, uniquely named temp file beside `path`; the kernel applies the umask."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(errno.EEXIST, "could not create a temporary file", str(path))


def _link_no_clobber(tmp: Path, path: Path) -> None:
    """Move `tmp` to `path` unless `path` exists; a hard link makes the check and the move one
    step. File systems without hard links (FAT, some network shares) get check-then-rename."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "file exists", str(path)) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temp path to write; on a clean exit it becomes `path` (see the module docstring).

    ``overwrite=False`` raises FileExistsError when `path` exists (checked again at the rename).
    The folder of `path` must exist; it is not created here.
    """
    path = Path(path)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, "file exists", str(path))
    tmp = _reserve_temp(path)
    try:
        yield tmp
        fsync_file(tmp)
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_no_clobber(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def write_text(path: str | os.PathLike, text: str, overwrite: bool = True,
               encoding: str = "utf-8") -> Path:
    """Atomically write `text` (newlines written as given, no translation)."""
    with atomic_target(path, overwrite) as tmp:
        with open(tmp, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes, overwrite: bool = True) -> Path:
    """Atomically write `data`."""
    with atomic_target(path, overwrite) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return Path(path)


def default_file_mode() -> int:
    """The mode a new file gets under the current umask (for tests and messages)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


__all__ = ["atomic_target", "write_text", "write_bytes", "default_file_mode"]

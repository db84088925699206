"""Names read from a project become file names: this module keeps them from leaving the project.

Why: a project folder can come from someone else. A video id or run id read from project.h5 or
journal.jsonl ends up in ``features/<id>.h5`` or ``runs/<id>/``; an id like ``../../other/project``
would make extraction overwrite another project's files. So every stored id passes ``safe_id``
(where it is read and where it is made), and every path built from one goes through ``inside``,
which resolves links and refuses a result outside the folder it was built in.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from .errors import ProjectError

MAX_ID_CHARS = 100
MAX_ID_BYTES = 200  # UTF-8; leaves room under the usual 255-byte file name limit for suffixes
_PUNCTUATION = set(" _-.+()[],=@~#&'!%^")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def id_problem(value: object) -> str | None:
    """Why `value` cannot be an id used as a file name, or None when it can."""
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not text"
    if not value:
        return "is empty"
    if len(value) > MAX_ID_CHARS or len(value.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        return f"is longer than {MAX_ID_CHARS} characters"
    for ch in value:
        if ch in _PUNCTUATION or ch.isalnum() or unicodedata.category(ch).startswith("M"):
            continue
        return f"contains {ch!r} (allowed: letters, digits, spaces and {''.join(sorted(_PUNCTUATION - {' '}))})"
    if value[0] in ". " or value[-1] in ". ":
        return "starts or ends with a dot or a space"
    if value.split(".")[0].lower() in _RESERVED:
        return "is a reserved device name"
    return None


def safe_id(value: object, what: str = "video id", where: str = "") -> str:
    """`value` when it is usable as a file name inside the project; ProjectError naming it otherwise.

    `where` names the source (e.g. "project.h5 in /x.pfes, field videos/id, row 3")."""
    problem = id_problem(value)
    if problem is not None:
        shown = repr(value) if not isinstance(value, str) or len(value) <= 60 else repr(value[:60] + "...")
        prefix = f"{where}: " if where else ""
        raise ProjectError(f"{prefix}invalid {what} {shown}: it {problem}")
    return value  # type: ignore[return-value]


def inside(base: str | os.PathLike, *parts: str) -> Path:
    """``base/parts...``, refused (ProjectError) when it would resolve outside `base`.

    Links are followed for the check (a features/ folder linked to a bigger disk is fine, a
    features file linked to another project's project.h5 is not); the returned path is the
    unresolved one, so the caller's own atomic rename replaces a link rather than its target."""
    base = Path(base)
    path = base.joinpath(*parts)
    real_base = os.path.realpath(base)
    real = os.path.realpath(path)
    if real != real_base and os.path.commonpath([real_base, real]) != real_base:
        raise ProjectError(f"refusing path {path}: it leads outside {base} (to {real})")
    return path

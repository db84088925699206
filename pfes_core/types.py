"""Plain value types shared by every module: classes, point labels, intervals, video records."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import LabelError

MAE = "MaE"
ME = "ME"
CLASSES: tuple[str, str] = (MAE, ME)


def other_class(cls: str) -> str:
    """MaE for ME and ME for MaE: a retyped label, a proposal accepted as the other class."""
    return next(c for c in CLASSES if c != cls)


# The one class-word table: every importer (label files, dataset workbooks, ELAN, BORIS, tables)
# maps expression-type words through it. Keys are normalised by `class_key` (lower case, spaces,
# hyphens and underscores removed), so "Macro", "macro-expression", "Macro-expression",
# "macro_expression" and "MaE" are one entry. CAS(ME)^2 writes "macro-expression" /
# "micro-expression", CAS(ME)^3 "Macro-expression" / "Micro-expression", SAMM-LV "Macro" and
# "Micro - 1/2" (micro-expressions, the half-second limit of the definition).
CLASS_WORDS: dict[str, str] = {
    "mae": MAE, "macro": MAE, "macroexpression": MAE, "macroexpressions": MAE,
    "me": ME, "micro": ME, "microexpression": ME, "microexpressions": ME, "micro1/2": ME,
}


def class_key(text) -> str:
    """Normalised form of a class word: lower case without spaces, hyphens or underscores."""
    return "".join(ch for ch in str(text).strip().lower() if ch not in " \t-_")


def parse_class(text: str) -> str:
    """Canonical class name ('MaE' or 'ME') for any word of CLASS_WORDS; LabelError otherwise."""
    name = CLASS_WORDS.get(class_key(text))
    if name is None:
        raise LabelError(f"unknown expression class {text!r} (expected MaE or ME, or a word such as "
                         f"macro, macro-expression, micro, Micro - 1/2)")
    return name


@dataclass(frozen=True)
class PointLabel:
    """One click: an expression of class `cls` is visible at `frame` of `video`."""

    video: str
    frame: int
    cls: str
    annotator: str = ""
    created: float = 0.0
    modified: float = 0.0


@dataclass(frozen=True)
class Interval:
    """An expression interval in frame indices (inclusive onset and offset)."""

    video: str
    cls: str
    onset: int
    apex: int
    offset: int
    score: float | None = None

    @property
    def length(self) -> int:
        return self.offset - self.onset + 1


@dataclass(frozen=True)
class VideoRecord:
    """A video registered in a project. `path` is relative to the project folder when possible."""

    id: str
    path: str
    fps: float
    n_frames: int
    fingerprint: str
    subject: str = ""
    step: int = 1
    extra: dict = field(default_factory=dict, compare=False)

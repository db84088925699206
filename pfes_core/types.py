"""Plain value types shared by every module: classes, point labels, intervals, video records."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import LabelError

MAE = "MaE"
ME = "ME"
CLASSES: tuple[str, str] = (MAE, ME)


def parse_class(text: str) -> str:
    """Return the canonical class name for `text` ('mae', 'MAE' -> 'MaE'); raise LabelError otherwise."""
    key = str(text).strip().lower()
    for name in CLASSES:
        if key == name.lower():
            return name
    raise LabelError(f"unknown expression class {text!r} (expected MaE or ME)")


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

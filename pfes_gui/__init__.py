"""P-FES Studio desktop app (PySide6 + pyqtgraph + qasync): views and controllers only.

The look shared by every view lives here so MaE/ME read the same colour everywhere: timeline
markers, proposal spans, the video list, the review table and the training plots.
"""

from __future__ import annotations

# Class colours (hex). MaE orange, ME blue: distinguishable for the common colour-vision deficits.
CLASS_COLORS: dict[str, str] = {"MaE": "#f28e2b", "ME": "#4ea8de"}
PLAYHEAD_COLOR = "#ff4d4d"
INTENSITY_COLOR = "#e6e6e6"


def class_color(cls: str) -> str:
    """Colour of an expression class; grey for anything unknown."""
    return CLASS_COLORS.get(cls, "#aaaaaa")


def _guard_singleton_refcounts() -> bool:
    """Work around PySide6 6.12.0 on CPython < 3.12 returning None/True/False without a reference.

    PySide6 6.12.0 (abi3 wheels) treats None/True/False as immortal, as they are from CPython
    3.12 on; on 3.11 every void or bool Qt call then drops one reference from the singleton and
    the process aborts ("Fatal Python error: none_dealloc") after some ten thousand calls, e.g.
    minutes into a session. Detected, not assumed: if a few calls lose references, the three
    singletons get a huge reference count, which is what 3.12 does anyway. Returns whether the
    guard was needed. The real fix is a PySide6 release without the bug (6.11.x works).
    """
    import sys

    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    import ctypes

    from PySide6.QtCore import QObject

    probe = QObject()
    before = (sys.getrefcount(None), sys.getrefcount(False))
    for _ in range(64):
        probe.setObjectName("probe")     # returns None
        probe.signalsBlocked()           # returns False
    lost = before[0] - sys.getrefcount(None) > 32 or before[1] - sys.getrefcount(False) > 32
    if lost:
        for obj in (None, True, False):
            ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40
    return lost


SINGLETON_GUARD = _guard_singleton_refcounts()

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


"""The timeline's lane geometry and graphics items: spans, the playhead line and the lanes' ViewBox.

Split from `pfes_gui.timeline` (the widget that arranges them); see its docstring for what the
lanes show and how clicks and drags are routed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPen

from pfes_core.types import CLASSES

if TYPE_CHECKING:
    from .timeline import Timeline

CLASS_ORDER = {cls: i for i, cls in enumerate(CLASSES)}

# Lane geometry in detail-view data units. The two label rows sit 0.30 apart so that their
# axis names ("ME", "MaE") stay a text line apart at 1280x720 (0.20 made them touch).
PROPOSAL_ROWS = {"ME": (1.10, 1.30), "MaE": (1.34, 1.54)}
REFERENCE_ROWS = {"ME": (1.64, 1.76), "MaE": (1.82, 1.94)}
LABEL_ROWS = {"ME": 2.08, "MaE": 2.38}
LABEL_HALF_HEIGHT = 0.09
LABEL_LANE = (1.98, 2.48)
Y_RANGE = (-0.06, 2.56)     # room above the MaE row for its whole marker
FOLLOW_MARGIN = 0.1         # keep the moving playhead this fraction of the view off its edges
DEFAULT_SPAN = 300          # frames shown in the detail view after opening a video
HIT_PIXELS = 7              # how close (in screen pixels) a click must be to grab a marker
DETAIL_MIN_HEIGHT = 175     # px: the lanes' names stay a text line apart (see _build)

STATUS_ALPHA = {None: 170, "accepted": 220, "adjusted": 220, "rejected": 45, "settled": 110}


def fast_curve(item: pg.PlotDataItem) -> None:
    """Cheapest faithful drawing of a long uniformly sampled curve: clip to the visible frames,
    then peak (min/max) downsample to one bucket per screen pixel (two points per pixel keep
    every spike). pyqtgraph's default of 5 buckets per pixel drew ~14,000 points per curve
    for a 100,000-frame view, 5x more than the pixels can show. Data are finite (model output),
    so the per-update finite check is skipped too."""
    item.setDownsampling(auto=True, method="peak")
    item.opts["autoDownsampleFactor"] = 1.0
    item.setClipToView(True)
    item.setSkipFiniteCheck(True)


MERGE_BELOW_PX = 4.0     # spans narrower than this on screen are merged where they touch


def merged_rects(left, top, width, height) -> np.ndarray:
    """(n, 4) device-pixel rectangles of one colour/style group, ready for drawRects.

    Zoomed out (every span under MERGE_BELOW_PX wide), spans whose whole-pixel extents touch
    or overlap in the same row are drawn as one rectangle: thousands of 1-2 px slivers cost a
    software rasteriser far more than the few hundred runs they form, and look the same."""
    if len(left) < 2 or float(width.max()) >= MERGE_BELOW_PX or np.ptp(top) > 0.5 \
            or np.ptp(height) > 0.5:
        return np.stack([left, top, width, height], 1)
    order = np.argsort(left, kind="stable")
    x0 = np.floor(left[order])
    x1 = np.ceil(left[order] + width[order])
    reach = np.maximum.accumulate(x1)
    starts = np.concatenate(([0], np.nonzero(x0[1:] > reach[:-1])[0] + 1))
    ends = np.concatenate((starts[1:], [len(x0)])) - 1
    out = np.empty((len(starts), 4))
    out[:, 0] = x0[starts]
    out[:, 1] = top[order][0]
    out[:, 2] = reach[ends] - x0[starts]
    out[:, 3] = height[order][0]
    return out


def with_alpha(color: str, alpha: int) -> QColor:
    c = QColor(color)
    c.setAlpha(alpha)
    return c


class SpanItem(pg.GraphicsObject):
    """Many [onset, offset] rectangles in one item, painted only where visible (with text)."""

    def __init__(self, hollow: bool = False):
        super().__init__()
        self.hollow = hollow
        self.onset = np.zeros(0)
        self.offset = np.zeros(0)
        self.y0 = np.zeros(0)
        self.y1 = np.zeros(0)
        self.colors: list[QColor] = []
        self.texts: list[str] = []
        self.styles: list[str | None] = []
        self._bounds = QRectF()
        self.drawn_texts: list = []
        self.priority = np.zeros(0)

    def set_spans(self, onset, offset, y0, y1, colors, texts=None, styles=None,
                  priority=None) -> None:
        """Spans [onset, offset] (frames) between heights y0 and y1; ``texts`` are written in
        the spans wide enough for them, highest ``priority`` first where they would collide."""
        self.prepareGeometryChange()
        self.onset = np.asarray(onset, float)
        self.offset = np.asarray(offset, float)
        self.y0 = np.asarray(y0, float)
        self.y1 = np.asarray(y1, float)
        self.colors = list(colors)
        self.texts = list(texts) if texts is not None else [""] * len(self.onset)
        self.styles = list(styles) if styles is not None else [None] * len(self.onset)
        # Culling on paint: sort by onset once, so the visible spans are one searchsorted away
        # (a span is visible when onset <= right edge and onset >= left edge - longest span).
        order = np.argsort(self.onset, kind="stable")
        self._order = order
        self._sorted_onset = self.onset[order]
        self._max_len = float((self.offset - self.onset).max()) if len(self.onset) else 0.0
        keys = list(zip(self.colors, self.styles))
        uniq = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        self._group_keys = list(uniq)
        self._group = np.array([uniq[k] for k in keys], dtype=np.int64)
        self._has_text = np.array([bool(t) for t in self.texts], dtype=bool)
        self.priority = (np.asarray(priority, float) if priority is not None
                         else np.zeros(len(self.onset)))
        if len(self.onset):
            lo, hi = self.onset.min() - 0.5, self.offset.max() + 0.5
            self._bounds = QRectF(lo, self.y0.min(), hi - lo, self.y1.max() - self.y0.min())
        else:
            self._bounds = QRectF()
        self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def visible_indices(self, xlo: float, xhi: float) -> np.ndarray:
        """Indices of the spans that overlap [xlo, xhi] (frames drawn as [onset-0.5, offset+0.5])."""
        if not len(self.onset):
            return np.zeros(0, dtype=np.int64)
        a = np.searchsorted(self._sorted_onset, xlo - self._max_len - 1.0, side="left")
        b = np.searchsorted(self._sorted_onset, xhi + 0.5, side="right")
        cand = self._order[a:b]
        return cand[(self.offset[cand] + 0.5 >= xlo) & (self.onset[cand] - 0.5 <= xhi)]

    def paint(self, painter, *_args) -> None:
        self.drawn_texts: list = []     # (text, row, x0, x1) of the last paint (for tests)
        if not len(self.onset):
            return
        vb = self.getViewBox()
        if vb is None:
            return
        (xlo, xhi), _ = vb.viewRange()
        visible = self.visible_indices(xlo, xhi)
        if not len(visible):
            return
        tr = painter.transform()
        # The view transform is scale + translate: map every visible span to device pixels at once.
        x0 = tr.m11() * (self.onset[visible] - 0.5) + tr.dx()
        x1 = tr.m11() * (self.offset[visible] + 0.5) + tr.dx()
        ya = tr.m22() * self.y0[visible] + tr.dy()
        yb = tr.m22() * self.y1[visible] + tr.dy()
        left, top = np.minimum(x0, x1), np.minimum(ya, yb)
        width = np.maximum(np.abs(x1 - x0), 1.0)
        height = np.abs(yb - ya)
        painter.save()
        painter.resetTransform()  # draw in device pixels: crisp borders, readable text
        vis_group = self._group[visible]
        for g in np.unique(vis_group):
            color_name, style = self._group_keys[g]
            members = np.nonzero(vis_group == g)[0]
            color = QColor(color_name)
            fill = QColor(color)
            if self.hollow:
                fill.setAlpha(60)
                painter.setPen(QPen(color, 1.2))
            else:
                fill.setAlpha(STATUS_ALPHA.get(style, 140))
                if style in ("accepted", "adjusted"):
                    painter.setPen(QPen(QColor("#ffffff"), 1.4))
                elif style == "rejected":
                    painter.setPen(QPen(color, 1.0, Qt.PenStyle.DashLine))
                else:
                    painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(fill))
            rects = merged_rects(left[members], top[members], width[members], height[members])
            painter.drawRects([QRectF(*r) for r in rects.tolist()])
        # Text only where it fits; with hundreds of spans on screen none does, so skip the loop.
        # Each label sits in the on-screen part of its span and never over an earlier label
        # of the same row (overlapping proposals would otherwise print '0.80.35').
        if self._has_text[visible].any() and np.count_nonzero(width > 24) > 0:
            font = QFont()
            font.setPointSize(8)
            painter.setFont(font)
            metrics = painter.fontMetrics()
            vx0 = tr.m11() * xlo + tr.dx()
            vx1 = tr.m11() * xhi + tr.dx()
            vx0, vx1 = min(vx0, vx1), max(vx0, vx1)
            taken: dict[float, list[tuple[float, float]]] = {}
            wide = np.nonzero(width > 24)[0]
            # Highest priority (score) first, so a pile-up shows its best proposal's score.
            wide = wide[np.argsort(-self.priority[visible[wide]], kind="stable")]
            for k in wide:
                i = visible[k]
                text = self.texts[i]
                if not text:
                    continue
                lo = max(left[k], vx0)
                hi = min(left[k] + width[k], vx1)
                tw = metrics.horizontalAdvance(text) + 4
                row = round(float(top[k]), 1)
                # Left-aligned (the playhead usually stands on the apex, mid-span), moved right
                # past any label already written in this row.
                start = lo + 1
                for a, b in sorted(taken.get(row, [])):
                    if start < b + 2 and start + tw > a - 2:
                        start = b + 2
                if start + tw > hi:
                    continue
                taken.setdefault(row, []).append((start, start + tw))
                painter.setPen(QPen(QColor("#999999") if self.styles[i] == "rejected"
                                    else QColor("#ffffff")))
                painter.drawText(QRectF(start, top[k], tw, height[k]),
                                 Qt.AlignmentFlag.AlignCenter, text)
                self.drawn_texts.append((text, row, start, start + tw))
        painter.restore()


class HoverSpanItem(SpanItem):
    """A SpanItem whose tooltip describes the span under the mouse (narrow bars show no text)."""

    def __init__(self, text_at, hollow: bool = False):
        super().__init__(hollow)
        self._text_at = text_at
        self.setAcceptHoverEvents(True)

    def hoverEvent(self, ev) -> None:
        if ev.isExit():
            self.setToolTip("")
            return
        pos = ev.pos()                      # item coordinates are view coordinates here
        self.setToolTip(self._text_at(pos.x(), pos.y()) or "")


class PlayheadLine(pg.InfiniteLine):
    """The playhead: draggable, except where a label marker lies under the mouse.

    The playhead is drawn over the markers, so without this a drag that starts on a label right
    under the playhead (just after M, or a double-click) scrubbed instead of moving the label."""

    def __init__(self, timeline: "Timeline", **kwargs):
        super().__init__(**kwargs)
        self._timeline = timeline

    def _on_marker(self, scene_pos) -> bool:
        pos = self._timeline.vb.mapSceneToView(scene_pos)
        return self._timeline.label_at(pos.x(), pos.y()) is not None

    def hoverEvent(self, ev) -> None:
        if not ev.isExit() and self._on_marker(ev.scenePos()):
            self.setMouseHover(False)       # leave the drag to the marker (the view box)
            return
        super().hoverEvent(ev)

    def mouseDragEvent(self, ev) -> None:
        if ev.isStart() and self._on_marker(ev.buttonDownScenePos()):
            ev.ignore()
            return
        super().mouseDragEvent(ev)


class LaneViewBox(pg.ViewBox):
    """ViewBox that routes clicks, double-clicks, marker drags and right-clicks to the Timeline."""

    def __init__(self, timeline: "Timeline"):
        super().__init__(enableMenu=False)
        self._timeline = timeline
        self._dragged = None

    def mouseClickEvent(self, ev) -> None:
        pos = self.mapSceneToView(ev.scenePos())
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            if ev.double():
                self._timeline._double_clicked(pos.x(), pos.y())
            else:
                self._timeline._clicked(pos.x())
        elif ev.button() == Qt.MouseButton.RightButton:
            label = self._timeline.label_at(pos.x(), pos.y())
            ev.accept()
            if label is not None:
                screen = ev.screenPos()
                self._timeline.label_menu_requested.emit(
                    label, QPoint(int(screen.x()), int(screen.y())))
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            if ev.isStart():
                start = self.mapSceneToView(ev.buttonDownScenePos())
                self._dragged = self._timeline.label_at(start.x(), start.y())
            if self._dragged is not None:
                ev.accept()
                pos = self.mapSceneToView(ev.scenePos())
                self._timeline._drag_label(self._dragged, pos.x(), ev.isFinish())
                if ev.isFinish():
                    self._dragged = None
                return
        super().mouseDragEvent(ev, axis)

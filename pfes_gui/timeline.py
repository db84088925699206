"""The timeline: an overview strip of the whole video over a zoomable detail view with lanes.

Detail view lanes, bottom to top (y in data units, so one ViewBox zooms every lane together):
  0..1        predicted intensity curve and the MaE/ME apex scores
  proposals   predicted intervals as class-coloured spans with their score (review status shown)
  reference   ground-truth intervals when the project has them
  labels      the annotator's point labels, one row per class (MaE top, ME below)
A red playhead spans all lanes. Clicking moves the playhead; double-clicking a label row adds a
label of that row's class; dragging a marker moves the label, also when the playhead stands on
it (a drag that starts on a marker belongs to the marker, anywhere else on the playhead line to
the playhead); right-click on a marker asks for the label menu. The proposal selected in the
review panel gets draggable edges in its own class row (``show_edit_span``; one edge item per
row, so an ME and a MaE proposal over the same frames never share handles); a finished drag
emits ``proposal_span_edited``. A proposal adjusted in review is drawn with its adjusted
boundaries; hovering a proposal bar tells its class, frames, score and review state.
A one-line legend above the lanes names the curves and says where the proposals come from.
While the playhead moves, the detail view scrolls to keep it off the edges (``FOLLOW_MARGIN``).
Curves are clipped to the view and peak-downsampled to one bucket per pixel, spans are culled
with a binary search and merged into pixel runs when zoomed out, the overview's curve is a
cached pixmap: a 100,000-frame video pans and zooms in 4-11 ms (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtWidgets import QGraphicsItem, QLabel, QVBoxLayout, QWidget

from . import INTENSITY_COLOR, PLAYHEAD_COLOR, class_color
from .timeline_items import (CLASS_ORDER, DEFAULT_SPAN, DETAIL_MIN_HEIGHT, FOLLOW_MARGIN, HIT_PIXELS,
                             LABEL_HALF_HEIGHT, LABEL_LANE, LABEL_ROWS, PROPOSAL_ROWS, REFERENCE_ROWS,
                             Y_RANGE, HoverSpanItem, LaneViewBox, PlayheadLine, SpanItem, fast_curve,
                             with_alpha)


class Timeline(QWidget):
    """Overview + detail timeline of one video. Frame indices are reader frames (after step)."""

    frame_clicked = Signal(int)                 # the user clicked or scrubbed to a frame
    add_label_requested = Signal(int, str)      # frame, class (double-click on a label row)
    label_moved = Signal(object, int)           # PointLabel, new frame (drag finished)
    label_menu_requested = Signal(object, QPoint)   # PointLabel, global position for the menu
    proposal_span_edited = Signal(object, int, int)  # proposal, new onset, new offset (drag done)
    proposal_focused = Signal(object)           # a proposal the user stepped to (U)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.n_frames = 0
        self.fps = 30.0
        self.labels: list = []
        self.layers = None          # pfes_gui.annotator_layers: which annotators' labels are shown
        self.proposals: list = []
        self.proposal_status: list[str | None] = []
        self.proposal_adjusted: list[tuple[int, int, int] | None] = []
        self.proposal_notes: list[str] = []     # where a state comes from, if not this run
        self.proposal_origin: str | None = None     # e.g. "motion baseline (no model)"
        self.focused_proposal = None        # the proposal U stepped to last
        self.reference: list = []
        self.intensity: np.ndarray | None = None
        self.apex: np.ndarray | None = None
        self.playhead = 0
        self._syncing = False
        self._label_frames = {cls: np.zeros(0) for cls in LABEL_ROWS}
        self._label_objs: dict[str, list] = {cls: [] for cls in LABEL_ROWS}
        self.edit_proposal = None           # the proposal whose edges are draggable, if any
        self._build()

    # -- construction -----------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)

        self.overview = pg.PlotWidget()
        self.overview.setFixedHeight(64)
        self.overview.setMouseEnabled(x=False, y=False)
        self.overview.setMenuEnabled(False)
        self.overview.hideButtons()
        self.overview.getPlotItem().hideAxis("left")
        self.overview.getPlotItem().getAxis("bottom").setStyle(tickLength=-4)
        self.overview.setYRange(-0.05, 1.4, padding=0)
        self._ov_curve = pg.PlotDataItem(pen=pg.mkPen(INTENSITY_COLOR, width=1))
        fast_curve(self._ov_curve)
        # The overview never pans or zooms: cache its curve as a pixmap instead of redrawing
        # it each time the region or the playhead moves. (The PlotDataItem only holds the
        # PlotCurveItem that paints, so the cache goes on that child.)
        self._ov_curve.curve.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.overview.addItem(self._ov_curve)
        self._ov_marks = {cls: pg.ScatterPlotItem(size=10, symbol="|", pxMode=True,
                                                  pen=pg.mkPen(class_color(cls), width=2))
                          for cls in LABEL_ROWS}
        for item in self._ov_marks.values():
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            self.overview.addItem(item)
        self._ov_region = pg.LinearRegionItem(brush=pg.mkBrush(255, 255, 255, 40),
                                              pen=pg.mkPen("#cccccc"))
        self._ov_region.setZValue(10)
        self.overview.addItem(self._ov_region)
        self._ov_playhead = pg.InfiniteLine(angle=90, movable=False,
                                            pen=pg.mkPen(PLAYHEAD_COLOR, width=1))
        self.overview.addItem(self._ov_playhead)
        self._ov_region.sigRegionChanged.connect(self._overview_region_changed)
        self.overview.scene().sigMouseClicked.connect(self._overview_clicked)

        self.vb = LaneViewBox(self)
        self.detail = pg.PlotWidget(viewBox=self.vb)
        # Lane names a text line apart need ~50 px per y unit plus the frame axis: below this
        # a bottom dock (Agreement) squeezed "MaE", "ME" and "reference" on top of each other.
        self.detail.setMinimumHeight(DETAIL_MIN_HEIGHT)
        self.detail.setMouseEnabled(x=True, y=False)
        self.detail.hideButtons()
        self.detail.setYRange(*Y_RANGE, padding=0)
        plot = self.detail.getPlotItem()
        # One tick per lane (rows inside a lane are told apart by colour), so none is hidden
        # for overlapping its neighbour when the timeline is short.
        plot.getAxis("left").setTicks([[
            (0.0, "0"), (1.0, "1"),
            ((PROPOSAL_ROWS["ME"][0] + PROPOSAL_ROWS["MaE"][1]) / 2, "proposals"),
            ((REFERENCE_ROWS["ME"][0] + REFERENCE_ROWS["MaE"][1]) / 2, "reference"),
            (LABEL_ROWS["ME"], "ME"), (LABEL_ROWS["MaE"], "MaE"),
        ], []])
        self._left_axis = plot.getAxis("left")
        plot.getAxis("left").setWidth(64)
        plot.getAxis("bottom").setLabel("frame")
        plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.overview.getPlotItem().getAxis("bottom").enableAutoSIPrefix(False)
        for lo, hi in ((1.05, 1.59), LABEL_LANE):
            band = pg.LinearRegionItem((lo, hi), orientation="horizontal", movable=False,
                                       brush=pg.mkBrush(255, 255, 255, 14), pen=pg.mkPen(None))
            band.setZValue(-100)
            self.detail.addItem(band)

        self._curve = pg.PlotDataItem(pen=pg.mkPen(INTENSITY_COLOR, width=1), name="intensity")
        self._apex = {cls: pg.PlotDataItem(pen=pg.mkPen(class_color(cls), width=1)) for cls in LABEL_ROWS}
        for item in (self._curve, *self._apex.values()):
            self.detail.addItem(item)
            fast_curve(item)
        self._proposal_spans = HoverSpanItem(self.proposal_tooltip)
        self._reference_spans = SpanItem(hollow=True)
        self.detail.addItem(self._proposal_spans)
        self.detail.addItem(self._reference_spans)
        # Solid translucent stems: a dashed pen is stroked dash by dash (several ms for 1,000
        # labels on a software-rendered view), a solid cosmetic line is one cheap span each.
        self._label_lines = {cls: pg.PlotDataItem(connect="pairs", pen=pg.mkPen(
            with_alpha(class_color(cls), 110), width=1)) for cls in LABEL_ROWS}
        for item in self._label_lines.values():
            item.setSkipFiniteCheck(True)
        self._markers = {cls: pg.ScatterPlotItem(size=13, symbol="t" if cls == "MaE" else "d",
                                                 pxMode=True, brush=pg.mkBrush(class_color(cls)),
                                                 pen=pg.mkPen("#202020", width=1))
                         for cls in LABEL_ROWS}
        for cls in LABEL_ROWS:
            self.detail.addItem(self._label_lines[cls])
            self.detail.addItem(self._markers[cls])
            self._markers[cls].setZValue(20)
        self._ghost = pg.ScatterPlotItem(size=15, symbol="o", pxMode=True, brush=pg.mkBrush(None),
                                         pen=pg.mkPen("#ffffff", width=1.5))
        self._ghost.setZValue(25)
        self.detail.addItem(self._ghost)
        self._loop = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(255, 255, 80, 35),
                                         pen=pg.mkPen("#ffff50"))
        self._loop.setVisible(False)
        self.detail.addItem(self._loop)
        # the candidate span the annotator is asked to look at (review queue, "Look here")
        self._look = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(80, 200, 255, 40),
                                         pen=pg.mkPen("#50c8ff", width=2, style=Qt.PenStyle.DashLine))
        self._look.setVisible(False)
        self.detail.addItem(self._look)
        # Draggable edges of the selected proposal, confined to its class row of the proposals
        # lane: one item per row, built with that row's span (an edge's span changed later
        # keeps its old hit area and drawing until the view moves, which put a MaE proposal's
        # handles on the ME bar). No fill (the span keeps its class colour), white edges that
        # light up under the mouse.
        self._edit_spans = {}
        height = Y_RANGE[1] - Y_RANGE[0]
        for cls, (r0, r1) in PROPOSAL_ROWS.items():
            item = pg.LinearRegionItem(
                movable=True, brush=pg.mkBrush(None), hoverBrush=pg.mkBrush(255, 255, 255, 30),
                pen=pg.mkPen("#ffffff", width=3), hoverPen=pg.mkPen("#ffff80", width=4),
                span=((r0 - 0.03 - Y_RANGE[0]) / height, (r1 + 0.03 - Y_RANGE[0]) / height))
            item.setZValue(15)
            item.setVisible(False)
            item.setToolTip(f"Drag an edge (or the span) to adjust this {cls} proposal")
            item.sigRegionChangeFinished.connect(self._edit_span_finished)
            self.detail.addItem(item)
            self._edit_spans[cls] = item
        self._edit_cls = "ME"
        self._playhead = PlayheadLine(self, angle=90, movable=True,
                                      pen=pg.mkPen(PLAYHEAD_COLOR, width=2),
                                      hoverPen=pg.mkPen("#ffaaaa", width=3))
        self._playhead.setZValue(30)
        self._playhead.sigDragged.connect(self._playhead_dragged)
        self.detail.addItem(self._playhead)
        self.vb.sigXRangeChanged.connect(self._detail_range_changed)

        self.legend = QLabel()
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        # Wraps instead of widening: an unwrapped line set the central area's minimum width
        # and squeezed the docks beside it.
        self.legend.setWordWrap(True)
        self.legend.setContentsMargins(6, 0, 6, 0)
        font = self.legend.font()
        font.setPointSize(max(font.pointSize() - 1, 7))
        self.legend.setFont(font)
        self._update_legend()

        layout.addWidget(self.overview)
        layout.addWidget(self.legend)
        layout.addWidget(self.detail, 1)

    # -- data ---------------------------------------------------------------------------------
    def set_video(self, n_frames: int, fps: float) -> None:
        """A new video: clears every overlay, shows the first DEFAULT_SPAN frames."""
        self.n_frames = max(int(n_frames), 1)
        self.fps = float(fps) if fps else 30.0
        self.set_predictions(None, None, [])
        self.set_reference([])
        self.set_labels([])
        self.clear_loop()
        self.hide_edit_span()
        pad = max(2.0, self.n_frames * 0.01)
        self.vb.setLimits(xMin=-pad, xMax=self.n_frames + pad, minXRange=8,
                          maxXRange=self.n_frames + 2 * pad)
        self.overview.setXRange(-0.5, self.n_frames - 0.5, padding=0.01)
        self._ov_region.setBounds((-0.5, self.n_frames - 0.5))
        self.playhead = 0
        self.set_view_range(-0.5, min(DEFAULT_SPAN, self.n_frames) - 0.5)
        self.set_playhead(0)

    def set_labels(self, labels) -> None:
        """Point labels of this video (PointLabel objects); only the shown annotator layers are drawn."""
        self.labels = list(labels) if self.layers is None else self.layers.visible(labels)
        for cls, y in LABEL_ROWS.items():
            objs = [lab for lab in self.labels if lab.cls == cls]
            frames = np.array([lab.frame for lab in objs], dtype=float)
            self._label_objs[cls] = objs
            self._label_frames[cls] = frames
            self._markers[cls].setData(x=frames, y=np.full(len(frames), y))
            xs = np.repeat(frames, 2)
            ys = np.tile([0.0, y - LABEL_HALF_HEIGHT], len(frames))
            self._label_lines[cls].setData(x=xs, y=ys)
            self._ov_marks[cls].setData(x=frames, y=np.full(len(frames), 1.2 if cls == "MaE" else 1.05))
        if self.layers is not None:
            self.layers.draw(self)

    def set_predictions(self, intensity=None, apex=None, proposals=(), origin: str | None = None) -> None:
        """Model output for this video: intensity (T,), apex scores (T, 2) as (MaE, ME), and
        proposals (Interval list). Any of them may be None/empty to clear it. ``origin`` names
        proposals that no trained model made (e.g. "motion baseline (no model)"): the legend
        and the lane name say so."""
        self.proposal_origin = origin
        self.intensity = None if intensity is None else np.asarray(intensity, dtype=float)
        self.apex = None if apex is None else np.asarray(apex, dtype=float)
        if self.intensity is not None and len(self.intensity):
            x = np.arange(len(self.intensity), dtype=float)
            self._curve.setData(x=x, y=self.intensity)
            self._ov_curve.setData(x=x, y=self.intensity)
        else:
            self._curve.setData([], [])
            self._ov_curve.setData([], [])
        if self.apex is not None and self.apex.ndim == 2 and len(self.apex):
            x = np.arange(len(self.apex), dtype=float)
            for col, cls in enumerate(("MaE", "ME")):
                self._apex[cls].setData(x=x, y=self.apex[:, col])
        else:
            for item in self._apex.values():
                item.setData([], [])
        self.proposals = sorted(proposals or [], key=lambda iv: (iv.onset, iv.offset, iv.cls))
        self.proposal_status = [None] * len(self.proposals)
        self.proposal_adjusted = [None] * len(self.proposals)
        self.proposal_notes = [""] * len(self.proposals)
        self.focused_proposal = None
        self._draw_proposals()
        self._update_legend()

    def set_proposal_status(self, statuses, adjusted=None, notes=None) -> None:
        """Review state per proposal (same order as ``self.proposals``): None (unreviewed),
        'accepted', 'rejected', 'adjusted' or 'settled' (a label of its class inside);
        ``adjusted`` gives the reviewer's (onset, apex, offset) per proposal (None where not
        adjusted) and the bar is drawn there; ``notes`` say where a state comes from when not
        from this run's decision (hover text). Drives the drawing and 'next unreviewed'."""
        statuses = list(statuses)
        if len(statuses) != len(self.proposals):
            raise ValueError(f"{len(statuses)} statuses for {len(self.proposals)} proposals")
        adjusted = list(adjusted) if adjusted is not None else [None] * len(statuses)
        if len(adjusted) != len(statuses):
            raise ValueError(f"{len(adjusted)} adjusted spans for {len(statuses)} proposals")
        self.proposal_status = statuses
        self.proposal_adjusted = adjusted
        self.proposal_notes = list(notes) if notes is not None else [""] * len(statuses)
        self._draw_proposals()

    def shown_span(self, i: int) -> tuple[int, int, int]:
        """(onset, apex, offset) proposal ``i`` is drawn with: the adjusted one if adjusted."""
        adj = self.proposal_adjusted[i] if i < len(self.proposal_adjusted) else None
        iv = self.proposals[i]
        return tuple(int(v) for v in adj) if adj is not None else (iv.onset, iv.apex, iv.offset)

    def _draw_proposals(self) -> None:
        props = self.proposals
        spans = [self.shown_span(i) for i in range(len(props))]
        marks = {"accepted": "\u2713 ", "adjusted": "\u2713 ", "rejected": "\u2717 ",
                 "settled": "\u2022 "}
        texts = [marks.get(st, "") + (f"{iv.score:.2f}" if iv.score is not None else "")
                 for iv, st in zip(props, self.proposal_status)]
        self._proposal_spans.set_spans(
            [s[0] for s in spans], [s[2] for s in spans],
            [PROPOSAL_ROWS.get(iv.cls, PROPOSAL_ROWS["ME"])[0] for iv in props],
            [PROPOSAL_ROWS.get(iv.cls, PROPOSAL_ROWS["ME"])[1] for iv in props],
            [class_color(iv.cls) for iv in props], texts, self.proposal_status,
            [iv.score if iv.score is not None else 0.0 for iv in props])

    def set_reference(self, intervals) -> None:
        """Ground-truth intervals of this video (drawn in their own lane, never edited here)."""
        self.reference = sorted(intervals or [], key=lambda iv: iv.onset)
        ref = self.reference
        self._reference_spans.set_spans(
            [iv.onset for iv in ref], [iv.offset for iv in ref],
            [REFERENCE_ROWS.get(iv.cls, REFERENCE_ROWS["ME"])[0] for iv in ref],
            [REFERENCE_ROWS.get(iv.cls, REFERENCE_ROWS["ME"])[1] for iv in ref],
            [class_color(iv.cls) for iv in ref])
        self._reference_spans.setToolTip("reference intervals (ground truth)")

    # -- proposals: hover text, stepping, legend --------------------------------------------------
    def proposal_index_at(self, x: float, y: float) -> int | None:
        """Index of the proposal bar under view position (x, y) (best score on top), or None."""
        for cls, (r0, r1) in PROPOSAL_ROWS.items():
            if not r0 <= y <= r1:
                continue
            hits = [i for i, iv in enumerate(self.proposals) if iv.cls == cls
                    and self.shown_span(i)[0] - 0.5 <= x <= self.shown_span(i)[2] + 0.5]
            if hits:
                return max(hits, key=lambda i: self.proposals[i].score or 0.0)
        return None

    def proposal_tooltip(self, x: float, y: float) -> str:
        """What the hover tooltip of a proposal bar says: class, frames, score, review state."""
        i = self.proposal_index_at(x, y)
        if i is None:
            return ""
        iv, status = self.proposals[i], self.proposal_status[i]
        on, ap, off = self.shown_span(i)
        text = f"{iv.cls} proposal {on}-{off}, apex {ap}"
        if iv.score is not None:
            text += f", score {iv.score:.2f}"
        note = self.proposal_notes[i] if i < len(self.proposal_notes) else ""
        if note:
            text += f"\n{note}"
        elif status == "adjusted" and (on, off) != (iv.onset, iv.offset):
            text += f"\nadjusted in review (proposed {iv.onset}-{iv.offset})"
        elif status:
            text += f"\n{status} in review"
        if self.proposal_origin:
            text += f"\nfrom the {self.proposal_origin}"
        return text

    def next_unreviewed(self, frame: int):
        """The next unreviewed proposal by apex after the playhead, wrapping around. Proposals
        sharing an apex are visited one after another (MaE first, then by onset): the one U focused
        last is the cursor, so two proposals at one frame are both reached. None if all done."""
        def key(iv):
            return (iv.apex, CLASS_ORDER.get(iv.cls, len(CLASS_ORDER)), iv.onset, iv.offset)

        pending = sorted((i for i, st in enumerate(self.proposal_status) if st is None),
                         key=lambda i: key(self.proposals[i]))
        if not pending:
            return None
        keys = [key(self.proposals[i]) for i in pending]
        f = self.focused_proposal
        if f is not None and f.apex == frame:
            cursor = key(f)
            after = [k for k, key in enumerate(keys) if key > cursor]
        else:
            after = [k for k, key in enumerate(keys) if key[0] > frame]
        k = after[0] if after else 0
        return self.proposals[pending[k]]

    def focus_proposal(self, proposal) -> None:
        """Remember ``proposal`` as the one stepped to, and tell the review side."""
        self.focused_proposal = proposal
        self.proposal_focused.emit(proposal)

    def _update_legend(self) -> None:
        def swatch(color: str, text: str) -> str:
            return f'<span style="color:{color}">\u2014\u2014</span> {text}'

        parts = [swatch(INTENSITY_COLOR, "intensity"),
                 swatch(class_color("MaE"), "MaE apex score"),
                 swatch(class_color("ME"), "ME apex score"),
                 swatch(PLAYHEAD_COLOR, "playhead")]
        if self.proposal_origin:
            parts.append(f'<b style="color:#ffd166">proposals: {self.proposal_origin}</b>')
        self.legend.setText("&nbsp;&nbsp;&nbsp;".join(parts))
        lane = "motion" if self.proposal_origin else "proposals"
        self._left_axis.setTicks([[
            (0.0, "0"), (1.0, "1"),
            ((PROPOSAL_ROWS["ME"][0] + PROPOSAL_ROWS["MaE"][1]) / 2, lane),
            ((REFERENCE_ROWS["ME"][0] + REFERENCE_ROWS["MaE"][1]) / 2, "reference"),
            (LABEL_ROWS["ME"], "ME"), (LABEL_ROWS["MaE"], "MaE"),
        ], []])

    # -- playhead, view range, loop -------------------------------------------------------------
    def set_playhead(self, frame: int) -> None:
        """Move the playhead; the detail view follows it. A playhead that comes within
        FOLLOW_MARGIN of an edge scrolls the view just enough to stay that far inside (stepping
        and playback glide instead of jumping a page), one that lands far outside is centred."""
        self.playhead = int(frame)
        self._playhead.blockSignals(True)
        self._playhead.setValue(self.playhead)
        self._playhead.blockSignals(False)
        self._ov_playhead.setValue(self.playhead)
        lo, hi = self.view_range()
        width = hi - lo
        margin = FOLLOW_MARGIN * width
        if width >= self.n_frames:              # the whole video is shown: nothing to follow
            return
        start = lo
        if self.playhead < lo - width or self.playhead > hi + width:
            start = self.playhead - width / 2
        elif self.playhead > hi - margin:
            start = self.playhead + margin - width
        elif self.playhead < lo + margin:
            start = self.playhead - margin
        start = min(max(start, -0.5), max(self.n_frames - 0.5 - width, -0.5))
        if abs(start - lo) > 1e-6:
            self.set_view_range(start, start + width)

    def view_range(self) -> tuple[float, float]:
        (lo, hi), _ = self.vb.viewRange()
        return float(lo), float(hi)

    def set_view_range(self, lo: float, hi: float) -> None:
        self.vb.setXRange(lo, hi, padding=0)

    def zoom(self, factor: float) -> None:
        """Zoom the detail view around the playhead (factor < 1 zooms in)."""
        lo, hi = self.view_range()
        width = max((hi - lo) * factor, 8.0)
        centre = self.playhead if lo <= self.playhead <= hi else (lo + hi) / 2
        frac = (centre - lo) / (hi - lo) if hi > lo else 0.5
        self.set_view_range(centre - frac * width, centre + (1 - frac) * width)

    def reveal(self, onset: int, offset: int) -> None:
        """Scroll the detail view (widening it when too narrow) so frames onset..offset are all
        in it with a margin: a 6 s stretch to scan is wider than the usual view."""
        lo, hi = self.view_range()
        pad = max(0.1 * (offset - onset + 1), 2.0)
        want_lo, want_hi = onset - 0.5 - pad, offset + 0.5 + pad
        if lo <= want_lo and want_hi <= hi:
            return
        width = max(hi - lo, want_hi - want_lo)
        mid = (want_lo + want_hi) / 2
        self.set_view_range(mid - width / 2, mid + width / 2)

    def zoom_fit(self) -> None:
        self.set_view_range(-0.5, self.n_frames - 0.5)

    # -- adjusting a proposal's boundaries -----------------------------------------------------
    @property
    def _edit_span(self) -> pg.LinearRegionItem:
        """The edge item of the row the edited proposal is in."""
        return self._edit_spans[self._edit_cls]

    def show_edit_span(self, proposal, onset: int, offset: int) -> None:
        """Draggable edges around [onset, offset] in the row of ``proposal``'s class (only)."""
        cls = proposal.cls if proposal.cls in self._edit_spans else "ME"
        for other, item in self._edit_spans.items():
            if other != cls:
                item.setVisible(False)
        self._edit_cls = cls
        self.edit_proposal = proposal
        item = self._edit_span
        item.setBounds((-0.5, self.n_frames - 0.5))
        item.blockSignals(True)
        try:
            item.setRegion((onset - 0.5, offset + 0.5))
        finally:
            item.blockSignals(False)
        item.prepareGeometryChange()
        item.setVisible(True)
        item.update()

    def hide_edit_span(self) -> None:
        self.edit_proposal = None
        for item in self._edit_spans.values():
            item.setVisible(False)

    def edit_span_frames(self) -> tuple[int, int]:
        """The (onset, offset) frames the draggable edges stand for now."""
        lo, hi = self._edit_span.getRegion()
        onset, offset = self.frame_from_x(lo + 0.5), self.frame_from_x(hi - 0.5)
        return min(onset, offset), max(onset, offset)

    def _edit_span_finished(self, item=None, *_args) -> None:
        proposal = self.edit_proposal
        if proposal is None or not self._edit_span.isVisible():
            return
        if item is not None and item is not self._edit_span:
            return
        onset, offset = self.edit_span_frames()
        self._edit_span.blockSignals(True)      # snap the edges to whole frames
        try:
            self._edit_span.setRegion((onset - 0.5, offset + 0.5))
        finally:
            self._edit_span.blockSignals(False)
        self.proposal_span_edited.emit(proposal, onset, offset)

    def set_loop(self, lo: int, hi: int) -> None:
        self._loop.setRegion((lo - 0.5, hi + 0.5))
        self._loop.setVisible(True)

    def clear_loop(self) -> None:
        self._loop.setVisible(False)

    def show_look(self, onset: int, offset: int) -> None:
        """Mark the candidate span being looked at (a dashed blue band over the detail view)."""
        self._look.setRegion((onset - 0.5, offset + 0.5))
        self._look.setVisible(True)

    def hide_look(self) -> None:
        self._look.setVisible(False)

    def look_shown(self) -> tuple[int, int] | None:
        """The (onset, offset) of the marked look span, None when hidden."""
        if not self._look.isVisible():
            return None
        lo, hi = self._look.getRegion()
        return int(round(lo + 0.5)), int(round(hi - 0.5))

    # -- hit testing and interaction ------------------------------------------------------------
    def label_at(self, x: float, y: float):
        """The label whose marker is under view position (x, y), or None."""
        px_w = self.vb.viewPixelSize()[0]
        tol = max(HIT_PIXELS * px_w, 0.5)
        best, best_d = None, tol
        for cls, row_y in LABEL_ROWS.items():
            if abs(y - row_y) > LABEL_HALF_HEIGHT * 1.2:
                continue
            frames = self._label_frames[cls]
            if not len(frames):
                continue
            idx = int(np.argmin(np.abs(frames - x)))
            dist = abs(frames[idx] - x)
            if dist <= best_d:
                best, best_d = self._label_objs[cls][idx], dist
        return best

    def row_class_at(self, y: float) -> str | None:
        """The class of the label row at height y, or None outside the label rows."""
        for cls, row_y in LABEL_ROWS.items():
            if abs(y - row_y) <= LABEL_HALF_HEIGHT * 1.2:
                return cls
        return None

    def frame_from_x(self, x: float) -> int:
        return int(min(max(round(x), 0), max(self.n_frames - 1, 0)))

    def view_pos_for(self, frame: float, y: float) -> QPointF:
        """Widget (viewport) coordinates of a data point: lets tests click on a marker."""
        scene = self.vb.mapViewToScene(QPointF(frame, y))
        return self.detail.mapFromScene(scene)

    def _clicked(self, x: float) -> None:
        if self.n_frames:
            self.frame_clicked.emit(self.frame_from_x(x))

    def _double_clicked(self, x: float, y: float) -> None:
        cls = self.row_class_at(y)
        if cls is not None and self.n_frames:
            self.add_label_requested.emit(self.frame_from_x(x), cls)

    def _drag_label(self, label, x: float, finished: bool) -> None:
        frame = self.frame_from_x(x)
        if finished:
            self._ghost.setData([], [])
            if frame != label.frame:
                self.label_moved.emit(label, frame)
        else:
            self._ghost.setData(x=[frame], y=[LABEL_ROWS.get(label.cls, 1.8)])

    def _playhead_dragged(self) -> None:
        frame = self.frame_from_x(self._playhead.value())
        if frame != self.playhead:
            self.frame_clicked.emit(frame)

    def _overview_clicked(self, ev) -> None:
        vb = self.overview.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(ev.scenePos()) or not self.n_frames:
            return
        frame = self.frame_from_x(vb.mapSceneToView(ev.scenePos()).x())
        lo, hi = self.view_range()
        width = hi - lo
        self.set_view_range(frame - width / 2, frame + width / 2)
        self.frame_clicked.emit(frame)

    def _overview_region_changed(self) -> None:
        if self._syncing:
            return
        lo, hi = self._ov_region.getRegion()
        self._syncing = True
        try:
            self.vb.setXRange(lo, hi, padding=0)
        finally:
            self._syncing = False

    def _detail_range_changed(self, _vb, rng) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            self._ov_region.setRegion(rng)
        finally:
            self._syncing = False

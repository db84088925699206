"""The frame view: the current video frame, with optional landmark/ROI and motion overlays.

The wheel zooms into the frame and a drag pans it (to look closely at a micro-expression); the
caption then names the zoom, a double-click shows the whole frame again, and a new video starts
fitted. The motion overlay is |frame - reference| x gain drawn in a heat colour map *added* on top of the
frame (black adds nothing), so a micro-expression a few pixels wide shows up as a bright patch
while the face stays visible. The reference is either a fixed frame the user picks (Shift+D) or
the frame N back; which frames to fetch is decided by the main window (``reference_for``).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from . import CLASS_COLORS

# ROI boxes are drawn this fraction of the face width (jaw span) wide: the extractor's 11 px ROI
# in its 230 px aligned crop, where the face spans roughly 180 px.
ROI_FACE_FRACTION = 11.0 / 180.0
# A flow vector of 0.5 (the feature bound) is drawn this fraction of the face width long.
FLOW_FACE_FRACTION = 0.5


class FrameView(QWidget):
    """Shows RGB frames (H, W, 3) uint8; overlays are switched on and off by the main window."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.view = pg.GraphicsLayoutWidget()
        self.vb = self.view.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.vb.setMouseEnabled(x=True, y=True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.vb.addItem(self.image)
        self.diff_image = pg.ImageItem(axisOrder="row-major")
        self.diff_image.setCompositionMode(QPainter.CompositionMode.CompositionMode_Plus)
        self.diff_image.setLookupTable(pg.colormap.get("inferno").getLookupTable(nPts=256))
        self.diff_image.setZValue(5)
        self.diff_image.setVisible(False)
        self.vb.addItem(self.diff_image)
        self.landmarks = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(80, 255, 120, 220))
        self.landmarks.setZValue(10)
        self.vb.addItem(self.landmarks)
        self.rois = pg.PlotDataItem(connect="pairs", pen=pg.mkPen(CLASS_COLORS["ME"], width=1))
        self.rois.setZValue(9)
        self.vb.addItem(self.rois)
        self.flow = pg.PlotDataItem(connect="pairs", pen=pg.mkPen("#ffe066", width=2))
        self.flow.setZValue(11)
        self.vb.addItem(self.flow)
        self.caption = QLabel("No video")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setStyleSheet("color: #bbbbbb; background: #1e1e1e; padding: 2px;")
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)

        # The wheel zooms into the frame (pyqtgraph: one notch = 1.35x), dragging pans; the
        # caption then says so, and a double-click fits the whole frame again.
        self.vb.sigRangeChanged.connect(lambda *_a: self._show_caption())
        self.view.viewport().installEventFilter(self)
        self._caption = "No video"

        self.frame_index: int | None = None
        self.current: np.ndarray | None = None
        self.show_landmarks = False
        self.show_difference = False
        self.diff_gain = 8.0
        self.noise_floor = 4     # grey levels of difference ignored before amplifying
        self._features = None
        self._size: tuple[int, int] | None = None

    # -- content ------------------------------------------------------------------------------
    def clear(self, message: str = "No video") -> None:
        self.frame_index = None
        self.current = None
        self._size = None
        self.image.clear()
        self.diff_image.clear()
        self._clear_overlay()
        self._caption = message
        self.caption.setText(message)

    def set_caption(self, text: str) -> None:
        """The line under the frame (a zoom, if any, is added to it)."""
        self._caption = text
        self._show_caption()

    def fit(self) -> None:
        """Show the whole frame (after a zoom with the wheel)."""
        if self._size is not None:
            self.vb.autoRange(padding=0.0)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.MouseButtonDblClick and watched is self.view.viewport():
            self.fit()
            return True
        return super().eventFilter(watched, event)

    def _show_caption(self) -> None:
        state = self.zoom_state()
        zoomed = state is not None and not state["in_range"]     # the range, not the layout
        self.caption.setText(f"{self._caption}   zoom {state['zoom']:.2f}x (double-click: whole "
                             f"frame)" if zoomed else self._caption)

    def _clear_overlay(self) -> None:
        self.landmarks.setData([], [])
        self.rois.setData([], [])
        self.flow.setData([], [])

    def set_features(self, features) -> None:
        """Features of the video (landmarks (T, 68, 2)) or None; redraws the overlay."""
        self._features = features
        self._draw_landmarks()

    def show_frame(self, frame: int, rgb: np.ndarray, reference: np.ndarray | None = None,
                   caption: str | None = None) -> None:
        """Display a frame; with the difference overlay on, ``reference`` is the frame to subtract."""
        self.frame_index = int(frame)
        self.current = rgb
        size = (rgb.shape[1], rgb.shape[0])
        # uint8 with no levels takes pyqtgraph's direct path (no per-frame rescale).
        self.image.setImage(rgb, autoLevels=False, levels=None)
        if size != self._size:
            self._size = size
            self.vb.autoRange(padding=0.0)
        self._draw_difference(reference)
        self._draw_landmarks()
        if caption is not None:
            self.set_caption(caption)

    def _draw_difference(self, reference: np.ndarray | None) -> None:
        if not self.show_difference or reference is None or self.current is None \
                or reference.shape != self.current.shape:
            self.diff_image.setVisible(False)
            return
        diff = np.abs(self.current.astype(np.int16) - reference.astype(np.int16)).max(axis=2)
        # Codec noise is a few grey levels everywhere; amplified it would tint the whole face.
        diff = np.maximum(diff - self.noise_floor, 0)
        amplified = np.clip(diff.astype(np.float32) * self.diff_gain, 0, 255).astype(np.uint8)
        self.diff_image.setImage(amplified, autoLevels=False, levels=(0, 255))
        self.diff_image.setVisible(True)

    def _draw_landmarks(self) -> None:
        """Landmarks, the 12 ROI boxes of the motion features, and each ROI's flow vector."""
        feats = self._features
        frame = self.frame_index
        if not self.show_landmarks or feats is None or frame is None:
            self._clear_overlay()
            return
        lms = getattr(feats, "landmarks", None)
        found = getattr(feats, "face_found", None)
        if lms is None or frame >= len(lms) or (found is not None and not bool(found[frame])):
            self._clear_overlay()
            return
        pts = np.asarray(lms[frame], dtype=float)
        self.landmarks.setData(x=pts[:, 0], y=pts[:, 1])
        if pts.shape[0] < 68:
            self.rois.setData([], [])
            self.flow.setData([], [])
            return
        from pfes_core.face import ROI_LANDMARKS   # numpy only; no model is loaded

        face_w = float(np.ptp(pts[0:17, 0])) or 100.0
        half = 0.5 * ROI_FACE_FRACTION * face_w
        centres = pts[list(ROI_LANDMARKS)]
        xs, ys = [], []
        for cx, cy in centres:
            corners = ((cx - half, cy - half), (cx + half, cy - half),
                       (cx + half, cy + half), (cx - half, cy + half))
            for k in range(4):
                (ax, ay), (bx, by) = corners[k], corners[(k + 1) % 4]
                xs += [ax, bx]
                ys += [ay, by]
        self.rois.setData(x=np.array(xs), y=np.array(ys))
        vectors = getattr(feats, "roi_vectors", None)
        if vectors is not None and frame < len(vectors):
            v = np.asarray(vectors[frame], dtype=float)[: len(centres)]
            tips = centres[: len(v)] + v * (FLOW_FACE_FRACTION * face_w / 0.5)
            seg = np.empty((2 * len(v), 2))
            seg[0::2] = centres[: len(v)]
            seg[1::2] = tips
            self.flow.setData(x=seg[:, 0], y=seg[:, 1])
        else:
            self.flow.setData([], [])

    def zoom_state(self) -> dict | None:
        """The shown image's size, the view box's range and size, and whether the whole frame is
        in view (for the real-window check and tests: a frame drawn zoomed is a defect)."""
        if self._size is None:
            return None
        (x0, x1), (y0, y1) = self.vb.viewRange()
        w, h = self._size
        in_range = x0 <= 0.5 and y0 <= 0.5 and x1 >= w - 0.5 and y1 >= h - 0.5
        # where the image lands in the widget's viewport: a view box laid out larger than the
        # viewport would crop it even with the right range
        shown = self.view.mapFromScene(self.image.mapRectToScene(self.image.boundingRect())).boundingRect()
        port = self.view.viewport().rect().adjusted(-1, -1, 1, 1)
        on_screen = port.contains(shown)
        return {"image": [w, h], "x": [round(x0, 1), round(x1, 1)], "y": [round(y0, 1), round(y1, 1)],
                "view_px": [round(self.vb.width()), round(self.vb.height())],
                "image_px": [shown.x(), shown.y(), shown.width(), shown.height()],
                "viewport_px": [self.view.viewport().width(), self.view.viewport().height()],
                "in_range": in_range, "whole_frame": in_range and on_screen,
                "zoom": round(max(w / max(x1 - x0, 1e-9), h / max(y1 - y0, 1e-9)), 3)}

    def grab_rgb(self) -> np.ndarray | None:
        """The frame currently shown (tests and benchmarks check what is on screen)."""
        return self.current

"""The timeline of the real MainWindow on a 100,000-frame video: curves are clipped to the view
and downsampled to the screen, spans are culled to the visible range, and a redraw stays cheap."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from pfes_core.types import Interval, PointLabel  # noqa: E402

pytestmark = pytest.mark.gui
N = 100_000


@pytest.fixture
def timeline(show_window):
    win = show_window("t", (1400, 900))
    tl = win.timeline
    rng = np.random.default_rng(0)
    tl.set_video(N, 30.0)
    intensity = rng.random(N)
    apex = rng.random((N, 2))
    onsets = np.sort(rng.choice(N - 100, 2000, replace=False))
    props = [Interval("v", "MaE" if i % 3 else "ME", int(o), int(o) + 5, int(o) + 10 + i % 40,
                      float(rng.random())) for i, o in enumerate(onsets)]
    tl.set_predictions(intensity, apex, props)
    tl.set_labels([PointLabel("v", int(f), "MaE" if i % 2 else "ME")
                   for i, f in enumerate(np.sort(rng.choice(N, 1000, replace=False)))])
    yield tl
    win.close()


def _drawn_points(item) -> int:
    x = item.curve.xData
    return 0 if x is None else len(x)


def test_curves_are_downsampled_to_the_screen_and_clipped_to_the_view(qtbot, timeline):
    tl = timeline
    tl.set_view_range(-0.5, N - 0.5)
    qtbot.wait(20)
    px = tl.vb.width()
    assert px > 200
    for item in (tl._curve, *tl._apex.values()):
        # peak downsampling: one (max, min) pair per pixel column, not 5 per pixel
        assert 0 < _drawn_points(item) <= 2 * px + 8
    # the peaks survive downsampling: the drawn maximum is the data maximum
    assert tl._curve.curve.yData.max() == pytest.approx(tl.intensity.max())
    tl.set_view_range(50_000, 50_400)
    qtbot.wait(20)
    n = _drawn_points(tl._curve)
    assert 400 <= n <= 410                      # only the visible frames, one point each
    assert tl._curve.curve.xData.min() >= 49_990 and tl._curve.curve.xData.max() <= 50_410


def test_span_culling_matches_brute_force(timeline):
    spans = timeline._proposal_spans
    on, off = spans.onset, spans.offset
    for lo, hi in ((-0.5, N - 0.5), (50_000, 50_300), (10.2, 11.7), (N + 5, N + 50), (-100, -1)):
        expected = np.nonzero((off + 0.5 >= lo) & (on - 0.5 <= hi))[0]
        assert sorted(spans.visible_indices(lo, hi).tolist()) == expected.tolist()


def test_redraw_of_100k_frames_is_fast(qtbot, timeline):
    """Generous bound (shared CI machines): the 100,000-frame view used to take ~50 ms."""
    tl = timeline
    times = {}
    for width in (N, 1000):
        lo = N / 2 - width / 2
        samples = []
        for k in range(12):
            shift = (0.1 if k % 2 else -0.1) * width if width < N else 0.0
            t0 = time.perf_counter()
            tl.set_view_range(lo + shift, lo + shift + width)
            tl.detail.viewport().repaint()
            samples.append(time.perf_counter() - t0)
            qtbot.wait(1)
        times[width] = float(np.median(samples)) * 1000
    assert times[N] < 40, times
    assert times[1000] < 40, times


def test_narrow_spans_merge_into_runs_without_losing_coverage():
    from pfes_gui.timeline_items import merged_rects

    left = np.array([10.2, 11.0, 12.5, 30.0, 31.4, 60.0])
    width = np.full(6, 1.5)
    top, height = np.full(6, 5.0), np.full(6, 8.0)
    rects = merged_rects(left, top, width, height)
    assert rects.tolist() == [[10.0, 5.0, 4.0, 8.0], [30.0, 5.0, 3.0, 8.0], [60.0, 5.0, 2.0, 8.0]]
    # every pixel an input span touches is covered, and nothing between the runs
    def covered(r):
        return {x for x0, _t, w, _h in r for x in range(int(x0), int(x0 + w))}
    assert covered(rects) == covered(np.stack([np.floor(left), top, np.ceil(left + width)
                                               - np.floor(left), height], 1))
    # wide spans (zoomed in) keep their own rectangles, borders and all
    wide = merged_rects(left * 10, top, width * 10, height)
    assert len(wide) == 6


def test_score_labels_of_overlapping_proposals_do_not_overprint(qtbot, show_window):
    win = show_window("t")
    tl = win.timeline
    tl.set_video(400, 30.0)
    props = [Interval("v", "MaE", 100, 110, 120, 0.80), Interval("v", "MaE", 103, 112, 126, 0.35),
             Interval("v", "MaE", 104, 108, 118, 0.50), Interval("v", "ME", 100, 104, 110, 0.61)]
    tl.set_predictions(None, None, props)
    for lo, hi in ((60, 180), (90, 140), (-0.5, 399.5)):
        tl.set_view_range(lo, hi)
        qtbot.wait(10)
        tl.detail.viewport().repaint()
        drawn = tl._proposal_spans.drawn_texts
        if drawn:       # the best score of the MaE pile-up is always the one shown
            assert "0.80" in [t[0] for t in drawn], (lo, hi, drawn)
        for a in drawn:
            for b in drawn:
                if a is not b and a[1] == b[1]:
                    assert a[3] <= b[2] or b[3] <= a[2], (lo, hi, drawn)
    tl.set_view_range(90, 140)
    qtbot.wait(10)
    tl.detail.viewport().repaint()
    texts = [t[0] for t in tl._proposal_spans.drawn_texts]
    assert "0.80" in texts and "0.61" in texts          # both rows labelled, side by side
    win.close()


# ---- drag precedence: a marker under the playhead ---------------------------------------------
def _label_point(win, frame, cls):
    from PySide6.QtCore import QPoint

    from pfes_gui.timeline import LABEL_ROWS

    pos = win.timeline.view_pos_for(frame, LABEL_ROWS[cls])
    return QPoint(round(pos.x()), round(pos.y()))


def _drag(qtbot, widget, start, end, steps=8):
    """A real drag: hover, press, several moves with the button held, release."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QTest.mouseMove(widget, start)          # hover first: the item under the mouse claims drags
    qtbot.wait(5)
    QTest.mousePress(widget, left, none, start)
    for i in range(1, steps + 1):
        QTest.mouseMove(widget, start + (end - start) * i / steps)
        qtbot.wait(5)
    QTest.mouseRelease(widget, left, none, end)


def test_drag_on_a_marker_under_the_playhead_moves_the_label(qtbot, open_window, tmp_path):
    from video_helpers import pattern_project

    win = open_window(pattern_project(tmp_path / "drag", 120))
    win.timeline.set_view_range(-0.5, 99.5)
    win.go_to_frame("face", 20)
    assert win.add_label(20, "MaE")               # what M does: a label right under the playhead
    assert win.timeline.playhead == 20
    vp = win.timeline.detail.viewport()
    _drag(qtbot, vp, _label_point(win, 20, "MaE"), _label_point(win, 33, "MaE"))
    qtbot.waitUntil(lambda: [(lab.frame, lab.cls) for lab in win.project.labels.for_video("face")]
                    == [(33, "MaE")], timeout=3000)
    assert win.current_frame == 20                 # the playhead stayed
    # The playhead itself, grabbed off the label rows, still drags (scrubs).
    _drag(qtbot, vp, win.timeline.view_pos_for(20, 0.5),
          win.timeline.view_pos_for(50, 0.5))
    qtbot.waitUntil(lambda: win.current_frame == 50, timeout=3000)
    assert [(lab.frame, lab.cls) for lab in win.project.labels.for_video("face")] == [(33, "MaE")]


# ---- friction: legend, lane names, following the playhead, tooltips on narrow bars ------------
def test_legend_names_the_curves_and_the_proposal_origin(show_window):
    from pfes_gui import INTENSITY_COLOR, class_color

    tl = show_window("t").timeline
    tl.set_video(300, 30.0)
    text = tl.legend.text()
    for name, color in (("intensity", INTENSITY_COLOR), ("MaE apex score", class_color("MaE")),
                        ("ME apex score", class_color("ME"))):
        assert name in text and color in text
    assert "motion" not in text
    tl.set_predictions(None, None, [Interval("v", "ME", 10, 12, 14, 0.5)],
                       origin="motion baseline (no model)")
    assert "proposals: motion baseline (no model)" in tl.legend.text()
    ticks = dict((label, y) for y, label in tl._left_axis._tickLevels[0])
    assert "motion" in ticks and "proposals" not in ticks


def test_lane_names_do_not_collide_at_1280x720(qtbot, show_window):
    from pfes_gui.timeline import LABEL_ROWS

    win = show_window("t", (1280, 720))
    tl = win.timeline
    tl.set_video(300, 30.0)
    qtbot.wait(20)
    me = tl.view_pos_for(0, LABEL_ROWS["ME"]).y()
    mae = tl.view_pos_for(0, LABEL_ROWS["MaE"]).y()
    line = tl._left_axis.fontMetrics().height() if hasattr(tl._left_axis, "fontMetrics") else \
        tl.detail.fontMetrics().height()
    assert abs(me - mae) >= line + 2, (me, mae, line)


def test_detail_view_follows_the_playhead_when_zoomed(show_window):
    from pfes_gui.timeline import FOLLOW_MARGIN

    tl = show_window("t").timeline
    tl.set_video(1000, 30.0)
    tl.set_view_range(-0.5, 99.5)
    starts = []
    for frame in range(0, 400):           # stepping one frame at a time, as Right does
        tl.set_playhead(frame)
        lo, hi = tl.view_range()
        starts.append(lo)
        assert lo <= frame <= hi
        if frame > 100:                   # never closer to the right edge than the margin
            assert hi - frame >= FOLLOW_MARGIN * (hi - lo) - 1
    moves = np.diff(starts)
    assert moves.max() <= 1.01            # it glides a frame at a time, no page jumps
    assert tl.view_range()[1] - tl.view_range()[0] == pytest.approx(100)
    tl.set_playhead(900)                  # far away: centred
    lo, hi = tl.view_range()
    assert lo < 900 < hi and abs((lo + hi) / 2 - 900) < 2


def test_narrow_proposal_bars_tell_their_score_on_hover(show_window):
    from pfes_gui.timeline import PROPOSAL_ROWS

    tl = show_window("t").timeline
    tl.set_video(5000, 30.0)
    tl.set_view_range(-0.5, 4999.5)        # zoomed out: an 11-frame ME bar is ~2 px wide
    me = Interval("v", "ME", 2000, 2005, 2010, 0.83)
    tl.set_predictions(None, None, [me, Interval("v", "MaE", 1990, 2000, 2100, 0.4)])
    tl.set_proposal_status(["accepted" if iv.cls == "MaE" else None for iv in tl.proposals])
    y_me, y_mae = sum(PROPOSAL_ROWS["ME"]) / 2, sum(PROPOSAL_ROWS["MaE"]) / 2
    assert tl.proposal_tooltip(2005, y_me) == "ME proposal 2000-2010, apex 2005, score 0.83"
    assert tl.proposal_tooltip(2050, y_mae).endswith("accepted in review")
    assert tl.proposal_tooltip(2050, y_me) == ""


def test_the_legend_never_widens_the_timeline(show_window):
    tl = show_window("t").timeline
    tl.set_video(300, 30.0)
    narrow = tl.minimumSizeHint().width()
    tl.set_predictions(None, None, [Interval("v", "ME", 10, 12, 14, 0.5)],
                       origin="motion baseline (no model)")
    assert tl.minimumSizeHint().width() <= max(narrow, 200)

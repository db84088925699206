"""Motion features: main direction, head-motion compensation, crop, accumulated window flow."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pfes_core.face import NON_NOSE_ROIS, ROI_LANDMARKS, detect_landmarks_image
from pfes_core.motion import (CROP, FlowEngine, MotionExtractor, apply_affine,
                              compensated_directions, crop_transforms, face_transform,
                              main_direction)
from pfes_core.video import open_video
from video_helpers import WOLFGANG


def test_main_direction_picks_dominant_sector_and_top_60_percent():
    right = np.stack([np.arange(1, 71, dtype=np.float32), np.zeros(70, np.float32)], axis=1)
    up = np.stack([np.zeros(51, np.float32), -np.full(51, 100, np.float32)], axis=1)
    v = np.concatenate([up, right])                 # 70 right beat 51 (larger) up
    out = main_direction(v)
    k = int(np.ceil(0.6 * 70))                      # top 42 of the right sector: 29..70
    assert out[1] == pytest.approx(0.0, abs=1e-6)
    assert out[0] == pytest.approx(np.arange(70 - k + 1, 71).mean())
    # Batched shapes, and no motion gives a zero vector.
    batch = np.stack([v, np.zeros_like(v)])[None]
    res = main_direction(batch)
    assert res.shape == (1, 2, 2) and np.allclose(res[0, 1], 0)
    # Direction is the unit sum of the kept vectors, magnitude their mean magnitude.
    diag = np.tile([[3.0, 1.0], [3.0, -1.0], [4.0, 0.0]], (10, 1)).astype(np.float32)
    d = main_direction(diag)
    assert d[1] == pytest.approx(0.0, abs=1e-5) and d[0] > 3.0


def test_uniform_head_motion_is_compensated_to_zero():
    vec = np.full((13, 121, 2), [3.0, -2.0], dtype=np.float32)     # everything moves like the nose
    assert np.allclose(compensated_directions(vec), 0, atol=1e-6)
    vec[8] += [0.0, 4.0]                                            # the mouth corner moves too
    out = compensated_directions(vec)
    assert out[8] == pytest.approx([0.0, 0.2], abs=1e-6)            # 4 px / 20
    assert np.abs(out).max() <= 0.5


@pytest.fixture(scope="module")
def face():
    rgb = np.ascontiguousarray(open_video(WOLFGANG).get(0))
    lm = detect_landmarks_image(rgb)
    return rgb, lm


def test_face_transform_aligns_eyes_and_keeps_face_inside(face):
    _, lm = face
    rot = cv2.getRotationMatrix2D((320, 180), 12, 1.0)
    lm_r = apply_affine(rot, lm.astype(np.float64))
    A = face_transform(lm_r)
    crop_lm = apply_affine(A, lm_r)
    assert abs(crop_lm[36, 1] - crop_lm[45, 1]) < 1e-6              # eye corners level
    assert crop_lm.min() > 0 and crop_lm.max() < CROP
    assert crop_lm[8, 1] - crop_lm[19, 1] > 0.6 * CROP               # the face fills the crop


def test_crop_is_fixed_and_reanchored_on_large_drift(face):
    _, lm = face
    track = np.repeat(lm[None].astype(np.float64), 60, axis=0)
    track[:, :, 0] += np.linspace(0, 3, 60)[:, None]                  # slow sway: same crop
    track[40:, :, 0] += 80                                          # a big move: new crop
    A, seg = crop_transforms(track)
    assert seg[0] == seg[39] == 0 and seg[40] == 1 and seg.max() == 1
    assert np.array_equal(A[0], A[39])


def _shift_region(img, box, dy):
    """Move the pixels inside box (x0, y0, x1, y1) down by dy px (sub-pixel, smooth edges)."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = box
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mask = np.clip(np.minimum.reduce([xx - x0, x1 - xx, yy - y0, y1 - yy]) / 6.0, 0, 1)
    map_y = (yy - dy * mask).astype(np.float32)
    return cv2.remap(img, xx, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def test_local_mouth_motion_under_head_translation(face):
    rgb, lm = face
    n = 30
    x0, y0 = lm[48:60].min(axis=0) - [20, 4]      # a wide box, but clear of the nose above
    x1, y1 = lm[48:60].max(axis=0) + 20
    frames, track = [], []
    for t in range(n):
        head = 1.5 * t                                               # the whole head drifts right
        mouth = 0.0 if t < 10 else min(0.8 * (t - 10), 8.0)          # the mouth opens from t = 10
        img = _shift_region(rgb, (x0, y0, x1, y1), mouth)
        M = np.float32([[1, 0, head], [0, 1, 0]])
        frames.append(cv2.warpAffine(img, M, (640, 360), borderMode=cv2.BORDER_REFLECT))
        track.append(lm + [head, 0])
    ex = MotionExtractor(np.array(track))
    for f in frames:
        ex.push(f)
    rv, mi = ex.finish()
    assert rv.shape == (n, 12, 2) and mi.shape == (n, 17, 10, 2)
    assert np.isfinite(rv).all() and np.isfinite(mi).all() and np.abs(mi).max() <= 0.5
    brows = [ROI_LANDMARKS.index(k) for k in (18, 19, 20, 23, 24, 25)]
    lip_bottom = ROI_LANDMARKS.index(57)
    # Head translation is removed: still brows, and nothing before the mouth moves.
    assert np.abs(rv[1:10]).max() < 0.02
    assert np.abs(rv[12:20][:, brows]).mean() < 0.01
    # The lower lip moves down (+y) by ~0.8 px a frame (in the frame; x crop scale in the crop).
    scale = np.linalg.norm(ex.transforms[0, 0, :2])
    assert 0.5 < scale < 1.5
    assert rv[12:20, lip_bottom, 1].mean() == pytest.approx(0.8 * scale / 20, rel=0.3)
    # Accumulated window flow grows along the window (window of t = 20 starts at frame 12).
    k_lip = NON_NOSE_ROIS.index(lip_bottom)
    acc = mi[20, :, k_lip, 1]
    assert acc[0] == 0
    assert acc[8] == pytest.approx(6.4 * scale / 20, rel=0.3)   # frames 12 -> 20: 6.4 px
    assert acc[4] == pytest.approx(acc[8] / 2, abs=0.03)     # half way after 4 of 8 moving frames
    assert acc[16] == pytest.approx(acc[8], abs=0.03)        # the mouth holds still after 20
    # Brows stay near zero (flow noise accumulates over 16 steps but stays far below the lip's).
    brow_acc = np.abs(mi[20, :, [NON_NOSE_ROIS.index(b) for b in brows]])
    assert brow_acc.mean() < 0.02 and brow_acc.max() < 0.4 * acc[16]


def test_tvl1_agrees_with_dis_on_a_shift(face):
    rgb, _ = face
    gray = cv2.cvtColor(rgb[60:290, 200:430], cv2.COLOR_RGB2GRAY)
    moved = np.roll(gray, 2, axis=1)
    for method in ("dis", "tvl1"):
        flow = FlowEngine(method)(gray, moved)
        assert flow.shape == (230, 230, 2)
        assert np.median(flow[40:190, 40:190, 0]) == pytest.approx(2.0, abs=0.2), method
    with pytest.raises(ValueError, match="unknown flow method"):
        FlowEngine("farneback")

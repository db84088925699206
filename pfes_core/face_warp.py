"""Landmark-anchored displacement fields that imitate facial action units, and the frame warp.

Each action unit (AU) is a smooth field: a sum of Gaussian radial basis functions centred on
68-point landmarks, each pushing pixels in a fixed direction. Fields are linear in intensity, so
a frame's displacement is a weighted sum of precomputed unit fields (cheap per frame). Warping is
backward (each output pixel samples `p - d(p)`), which stays fold-free while |grad d| < 1: the
sigmas below are sized so the largest amplitudes used keep well under that.
"""

from __future__ import annotations

import cv2
import numpy as np

BROW_RAISE = "brow_raise"            # AU1+2
BROW_LOWER = "brow_lower"            # AU4
LIP_CORNER_PULL = "lip_corner_pull"  # AU12
LIP_CORNER_DEPRESS = "lip_corner_depress"  # AU15
LIP_PRESS = "lip_press"              # AU24
NOSE_WRINKLE = "nose_wrinkle"        # AU9
AUS = (BROW_RAISE, BROW_LOWER, LIP_CORNER_PULL, LIP_CORNER_DEPRESS, LIP_PRESS, NOSE_WRINKLE)
# Pairs that pull the same landmarks in opposite directions; never combined in one event.
CONFLICTS = ({BROW_RAISE, BROW_LOWER}, {LIP_CORNER_PULL, LIP_CORNER_DEPRESS})


def interocular(lm: np.ndarray) -> float:
    """Distance between eye centres: the face's natural length unit."""
    return float(np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0)))


def rbf_field(shape: tuple[int, int], anchors: list[tuple[np.ndarray, np.ndarray, float, float]]) -> np.ndarray:
    """Sum of anisotropic Gaussian bumps: anchors are (centre xy, vector xy, sigma_x, sigma_y)."""
    h, w = shape
    ys = np.arange(h, dtype=np.float32)[:, None]
    xs = np.arange(w, dtype=np.float32)[None, :]
    field = np.zeros((h, w, 2), np.float32)
    for centre, vector, sx, sy in anchors:
        g = np.exp(-0.5 * (((xs - centre[0]) / sx) ** 2 + ((ys - centre[1]) / sy) ** 2)).astype(np.float32)
        field[..., 0] += g * float(vector[0])
        field[..., 1] += g * float(vector[1])
    return field


def _unit(v) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / (np.linalg.norm(v) + 1e-12)


def _normalise(field: np.ndarray) -> np.ndarray:
    """Scale so the largest displacement is 1 px: amplitudes then read directly in pixels."""
    peak = float(np.sqrt((field ** 2).sum(-1)).max())
    return field / peak if peak > 0 else field


def au_fields(lm: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Unit (1 px peak) displacement field of every AU for a face with 68-point landmarks `lm`."""
    lm = np.asarray(lm, np.float64)
    iod = interocular(lm)
    mid_x = lm[27, 0]
    inward = lambda i: np.sign(mid_x - lm[i, 0]) or 1.0  # noqa: E731  (+1 when the point is left of the midline)
    s_brow, s_mouth, s_lip, s_nose = 0.22 * iod, 0.17 * iod, 0.13 * iod, 0.15 * iod
    anchors = {
        BROW_RAISE: [(lm[i], (0.0, -1.0 if i in (19, 20, 21, 22, 23, 24) else -0.8), s_brow, s_brow)
                     for i in range(17, 27)],
        BROW_LOWER: [(lm[i], _unit((0.8 * inward(i), 0.6)), s_brow, s_brow) for i in (19, 20, 21, 22, 23, 24)],
        LIP_CORNER_PULL: [(lm[i], _unit((-0.75 * inward(i), -0.65)), s_mouth, s_mouth) for i in (48, 54)],
        LIP_CORNER_DEPRESS: [(lm[i], _unit((-0.25 * inward(i), 0.97)), s_mouth, s_mouth) for i in (48, 54)],
        LIP_PRESS: ([(lm[i], (0.0, 1.0), s_lip * 1.4, s_lip) for i in (50, 51, 52)]
                    + [(lm[i], (0.0, -1.0), s_lip * 1.4, s_lip) for i in (56, 57, 58)]),
        NOSE_WRINKLE: ([(lm[i], _unit((0.3 * inward(i), -1.0)), s_nose, s_nose) for i in (31, 35)]
                       + [(lm[29], (0.0, -0.6), s_nose, s_nose)]),
    }
    return {name: _normalise(rbf_field(shape, a)) for name, a in anchors.items()}


def blink_field(lm: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Downward push of both upper lids at intensity 1 (unit field) and its amplitude in px.

    A warp alone cannot hide the iris without folding, so this only gives the lid its motion;
    `closed_eyes` supplies the covered look that is blended in along with it.
    """
    lm = np.asarray(lm, np.float64)
    iod = interocular(lm)
    anchors, amplitude = [], 0.0
    for upper, lower, eye in (((37, 38), (40, 41), slice(36, 42)), ((43, 44), (46, 47), slice(42, 48))):
        top, bottom = lm[list(upper)].mean(0), lm[list(lower)].mean(0)
        opening = max(bottom[1] - top[1], 0.06 * iod)
        amplitude = max(amplitude, 0.45 * opening)
        anchors.append((np.array([lm[eye, 0].mean(), top[1]]), (0.0, 1.0), 0.3 * iod, 0.12 * iod))
    return _normalise(rbf_field(shape, anchors)), amplitude


def closed_eyes(canvas: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """(closed - open) appearance, masked to the eyes: add `b *` this to the canvas for a blink at b.

    The closed look stretches the eyelid skin just above each upper lid down over the eye
    opening; a soft elliptical mask keeps the change local and seamless.
    """
    lm = np.asarray(lm, np.float64)
    iod = interocular(lm)
    h, w = canvas.shape[:2]
    ys = np.arange(h, dtype=np.float32)[:, None].repeat(w, 1)
    xs = np.arange(w, dtype=np.float32)[None, :].repeat(h, 0)
    map_y = ys.copy()
    mask = np.zeros((h, w), np.float32)
    for upper, lower, eye in (((37, 38), (40, 41), slice(36, 42)), ((43, 44), (46, 47), slice(42, 48))):
        top, bottom = lm[list(upper)].mean(0), lm[list(lower)].mean(0)
        opening = max(bottom[1] - top[1], 0.06 * iod)
        half_w = 0.5 * (lm[eye, 0].max() - lm[eye, 0].min()) + 0.1 * iod
        cx, cy = lm[eye, 0].mean(), 0.5 * (top[1] + bottom[1])
        m = np.exp(-0.5 * (((xs - cx) / (0.75 * half_w)) ** 2 + ((ys - cy) / (0.9 * opening + 0.04 * iod)) ** 2))
        lid = top[1] - 0.9 * opening  # the lid skin band [lid, top - 0.2 opening] covers the eye
        squeezed = lid + (ys - (cy - 2 * opening)) * (0.7 * opening) / (4 * opening)
        inside = m > 0.02
        map_y[inside] = squeezed[inside]
        mask = np.maximum(mask, m.astype(np.float32))
    closed = cv2.remap(canvas.astype(np.float32), xs, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return (closed - canvas.astype(np.float32)) * mask[..., None]


def head_grid(size: tuple[int, int], margin: tuple[float, float], centre: np.ndarray,
              angle_deg: float, shift: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Canvas coordinates seen by each output pixel when the head is rotated about `centre` and shifted."""
    w, h = size
    a = np.deg2rad(angle_deg)
    ca, sa = np.cos(a), np.sin(a)
    px = np.arange(w, dtype=np.float32)[None, :] + np.float32(margin[0] - centre[0] - shift[0])
    py = np.arange(h, dtype=np.float32)[:, None] + np.float32(margin[1] - centre[1] - shift[1])
    cx = (ca * px + sa * py + centre[0]).astype(np.float32)
    cy = (-sa * px + ca * py + centre[1]).astype(np.float32)
    return cx, cy


def warp_frame(canvas: np.ndarray, cx: np.ndarray, cy: np.ndarray, field: np.ndarray | None) -> np.ndarray:
    """Sample the canvas at (cx, cy) - d(cx, cy). Reflect at borders, so no black edge can appear."""
    if field is not None:
        d = cv2.remap(field, cx, cy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        cx = cx - d[..., 0]
        cy = cy - d[..., 1]
    return cv2.remap(canvas, cx, cy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

"""ROI optical-flow features of METHOD.md section 1, from frames and their 68-point landmarks.

Pipeline, per video:
1. Crop: one similarity transform (rotation from the outer eye corners 36/45, scale and offset
   from the landmark box, forehead margin) maps the face to a CROP x CROP grey image. It is fixed
   for the video and re-anchored only when the head drifts far (eye midpoint moved by more than
   `drift` x the eye distance, scale by > 15 %, or roll by > 8 degrees): a fixed crop keeps the
   background still, so the flow is the face's motion, not the crop's.
2. Dense flow between consecutive crops: DIS (default) or TV-L1 (the reference's choice), bounded
   to +-10 px and scaled to [-0.5, 0.5] at the end.
3. Head motion: the dominant ("main direction") motion of a nose patch (21 x 21 px around
   landmark 29, sampled every 2 px) is subtracted from every ROI's flow vectors.
4. Per ROI (11 x 11 px around landmarks 18,19,20,23,24,25,28,30,48,51,54,57), the main direction:
   the 90-degree sector (centred on +x, +y, -x, -y) holding most vectors, its top 60 % by
   magnitude, unit(sum) x mean magnitude. `roi_vectors[t]` describes the motion from t-1 to t
   (zero at t = 0).
5. Model input: for frame t the window t-8..t+8 (indices clipped at the ends, i.e. replicated
   frames, which do not move). For each window frame k the flow accumulated from the window's
   first frame is found by following each ROI pixel along the consecutive flows (bilinear
   sampling at its current position, summing the displacements). This costs 16 flow samples per
   point instead of 16 extra dense-flow computations per frame, so it stays cheap. The 10
   non-nose ROIs give (T, 17, 10, 2).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .face import NON_NOSE_ROIS, ROI_LANDMARKS

CROP = 230
ROI = 11
NOSE_PATCH = 21
NOSE_LANDMARK = 29
FLOW_BOUND = 10.0
WINDOW = 17
HALF = WINDOW // 2
TOP_FRACTION = 0.6


# -- crop ----------------------------------------------------------------------------------------
def face_transform(landmarks: np.ndarray, size: int = CROP) -> np.ndarray:
    """2x3 affine mapping frame pixels to an eye-aligned size x size face crop."""
    lm = np.asarray(landmarks, dtype=np.float64)
    left, right = lm[36], lm[45]
    angle = math.atan2(right[1] - left[1], right[0] - left[0])
    c, s = math.cos(-angle), math.sin(-angle)
    rot = np.array([[c, -s], [s, c]])
    centre = (left + right) / 2
    r = (lm - centre) @ rot.T
    x0, y0 = r.min(axis=0)
    x1, y1 = r.max(axis=0)
    w, h = x1 - x0, y1 - y0
    y0 -= 0.15 * h                       # forehead above the brows
    y1 += 0.05 * h                       # a margin below the chin
    x0 -= 0.05 * w
    x1 += 0.05 * w
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    scale = size / side
    # crop = scale * (rot @ (p - centre) - (cx - side/2, cy - side/2))
    lin = scale * rot
    off = -lin @ centre - scale * np.array([cx - side / 2, cy - side / 2])
    return np.hstack([lin, off[:, None]])


def apply_affine(A: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply 2x3 (or (..., 2, 3)) affine transforms to (..., N, 2) points."""
    A = np.asarray(A)
    return pts @ np.swapaxes(A[..., :2], -1, -2) + A[..., None, :, 2]


def crop_transforms(landmarks: np.ndarray, size: int = CROP, drift: float = 0.25
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame crop transforms (T, 2, 3), constant within segments, and the segment id (T,).

    A segment's transform comes from the mean landmarks of its first 5 frames.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    T = len(lm)
    out = np.zeros((T, 2, 3))
    seg = np.zeros(T, dtype=np.int64)
    eyes = lm[:, [36, 45]]
    t, sid = 0, 0
    while t < T:
        A = face_transform(lm[t:t + 5].mean(axis=0), size)
        ref = apply_affine(A, eyes[t])
        ref_mid, ref_vec = ref.mean(axis=0), ref[1] - ref[0]
        ref_d = np.linalg.norm(ref_vec)
        u = t + 1
        while u < T:
            e = apply_affine(A, eyes[u])
            vec = e[1] - e[0]
            d = np.linalg.norm(vec)
            roll = abs(math.atan2(vec[1], vec[0]) - math.atan2(ref_vec[1], ref_vec[0]))
            if (np.linalg.norm(e.mean(axis=0) - ref_mid) > drift * ref_d
                    or not 0.87 < d / ref_d < 1.15 or roll > math.radians(8)):
                break
            u += 1
        out[t:u] = A
        seg[t:u] = sid
        sid += 1
        t = u
    return out, seg


# -- flow ----------------------------------------------------------------------------------------
class FlowEngine:
    """Dense optical flow between two grey crops, in pixels, (H, W, 2) float32."""

    def __init__(self, method: str = "dis", dis_preset: str = "medium"):
        import cv2

        self.method = method
        if method == "dis":
            presets = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                       "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                       "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
            if dis_preset not in presets:
                raise ValueError(f"unknown DIS preset {dis_preset!r} (ultrafast, fast, medium)")
            self._flow = cv2.DISOpticalFlow_create(presets[dis_preset])
        elif method == "tvl1":
            self._flow = cv2.optflow.DualTVL1OpticalFlow_create()
        else:
            raise ValueError(f"unknown flow method {method!r} (expected dis or tvl1)")

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        return self._flow.calc(prev, nxt, None)


# -- ROI geometry and main direction ----------------------------------------------------------------
def _grid(size: int, stride: int = 1) -> np.ndarray:
    r = np.arange(-(size // 2), size // 2 + 1, stride, dtype=np.float64)
    yy, xx = np.meshgrid(r, r, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


ROI_OFFSETS = _grid(ROI)                    # (121, 2)
NOSE_OFFSETS = _grid(NOSE_PATCH, 2)         # (121, 2)
N_PTS = ROI_OFFSETS.shape[0]
assert NOSE_OFFSETS.shape[0] == N_PTS
N_GROUPS = len(ROI_LANDMARKS) + 1           # 12 ROIs + the nose patch (last)
_CENTRES = list(ROI_LANDMARKS) + [NOSE_LANDMARK]
_OFFSETS = np.stack([ROI_OFFSETS] * len(ROI_LANDMARKS) + [NOSE_OFFSETS])   # (13, 121, 2)


def sample_positions(landmarks_crop: np.ndarray) -> np.ndarray:
    """(..., 68, 2) crop landmarks -> (..., 13, 121, 2) pixel positions of the ROIs + nose patch."""
    centres = np.round(landmarks_crop[..., _CENTRES, :])
    return centres[..., :, None, :] + _OFFSETS


def main_direction(vectors: np.ndarray) -> np.ndarray:
    """(..., N, 2) flow vectors -> (..., 2): dominant sector, top 60 % by magnitude, METHOD 1.5."""
    v = np.asarray(vectors, dtype=np.float32)
    x, y = v[..., 0], v[..., 1]
    mag = np.hypot(x, y)
    # Sectors centred on +x, +y, -x, -y without trigonometry: compare |x| and |y| and signs.
    horizontal = np.abs(x) >= np.abs(y)
    sector = np.where(horizontal, np.where(x >= 0, 0, 2), np.where(y >= 0, 1, 3))
    sector = np.where(mag > 0, sector, 4)                 # still vectors vote for nothing
    counts = np.stack([(sector == s).sum(axis=-1) for s in range(4)], axis=-1)
    best = counts.argmax(axis=-1)
    n_best = np.take_along_axis(counts, best[..., None], axis=-1)
    in_best = sector == best[..., None]
    k = np.ceil(TOP_FRACTION * n_best).astype(np.int64)
    key = np.where(in_best, mag, -1.0)
    ranked = -np.sort(-key, axis=-1)                      # descending
    kth = np.take_along_axis(ranked, np.maximum(k - 1, 0), axis=-1)
    keep = in_best & (key >= kth) & (k > 0)
    total = (v * keep[..., None]).sum(axis=-2)
    kept = np.maximum(keep.sum(axis=-1), 1)
    mean_mag = (mag * keep).sum(axis=-1) / kept
    norm = np.hypot(total[..., 0], total[..., 1])
    unit = total / np.where(norm > 0, norm, 1.0)[..., None]
    return (unit * mean_mag[..., None]).astype(np.float32)


def compensated_directions(vectors: np.ndarray) -> np.ndarray:
    """(..., 13, N, 2) px vectors (12 ROIs + nose patch) -> (..., 12, 2) scaled to [-0.5, 0.5].

    Clip to the +-10 px bound, subtract the nose patch's main direction (head motion) from every
    ROI's vectors, clip again, take each ROI's main direction and divide by 2 x bound.
    """
    v = np.clip(vectors, -FLOW_BOUND, FLOW_BOUND)
    head = main_direction(v[..., -1, :, :])
    rois = np.clip(v[..., :-1, :, :] - head[..., None, None, :], -FLOW_BOUND, FLOW_BOUND)
    return np.clip(main_direction(rois) / (2 * FLOW_BOUND), -0.5, 0.5)


def bilinear(flows: np.ndarray, idx: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Sample flows[idx] at float positions: flows (F, H, W, 2), idx (B,), pts (B, M, 2) -> (B, M, 2)."""
    F, H, W = flows.shape[:3]
    flat = flows.reshape(-1, 2)
    x = np.clip(pts[..., 0], 0, W - 1)
    y = np.clip(pts[..., 1], 0, H - 1)
    x0 = np.minimum(x.astype(np.int64), W - 2)            # x >= 0, so truncation is floor
    y0 = np.minimum(y.astype(np.int64), H - 2)
    fx = (x - x0)[..., None].astype(np.float32)
    fy = (y - y0)[..., None].astype(np.float32)
    base = (np.asarray(idx, dtype=np.int64)[:, None] * H + y0) * W + x0
    a = flat.take(base, axis=0)
    b = flat.take(base + 1, axis=0)
    c = flat.take(base + W, axis=0)
    d = flat.take(base + W + 1, axis=0)
    top = a + (b - a) * fx
    bot = c + (d - c) * fx
    return top + (bot - top) * fy


# -- streaming extractor ---------------------------------------------------------------------------
class MotionExtractor:
    """Feed frames in order; get roi_vectors (T, 12, 2) and model_input (T, 17, 10, 2).

    Keeps only the consecutive flows a window still needs (about 17 + `chunk` crops), so memory
    does not grow with the video length.
    """

    def __init__(self, landmarks: np.ndarray, flow: str = "dis", dis_preset: str = "medium",
                 crop: int = CROP, drift: float = 0.25, chunk: int = 32):
        self.landmarks = np.asarray(landmarks, dtype=np.float64)
        self.T = len(self.landmarks)
        self.crop = crop
        self.transforms, self.segments = crop_transforms(self.landmarks, crop, drift)
        self.lm_crop = apply_affine(self.transforms, self.landmarks)           # (T, 68, 2)
        self.flow = FlowEngine(flow, dis_preset)
        self.chunk = chunk
        self.roi_vectors = np.zeros((self.T, len(ROI_LANDMARKS), 2), dtype=np.float32)
        self.model_input = np.zeros((self.T, WINDOW, len(NON_NOSE_ROIS), 2), dtype=np.float32)
        self._flows: dict[int, np.ndarray] = {}   # j -> flow from frame j to j+1 (A_{j+1} coords)
        self._prev_gray = None
        self._prev_crop = None
        self._t = 0
        self._done_upto = 0                       # windows [0, _done_upto) are computed

    def _warp(self, gray: np.ndarray, A: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.warpAffine(gray, A, (self.crop, self.crop), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)

    def push(self, rgb: np.ndarray) -> None:
        """Add the next frame (RGB uint8)."""
        import cv2

        t = self._t
        if t >= self.T:
            raise ValueError("more frames than landmarks")
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        A = self.transforms[t]
        crop = self._warp(gray, A)
        if t > 0:
            prev = self._prev_crop
            if self.segments[t] != self.segments[t - 1]:
                prev = self._warp(self._prev_gray, A)   # both frames in the new crop
            f = self.flow(prev, crop)
            self._flows[t - 1] = f
        self._prev_gray, self._prev_crop = gray, crop
        self._t = t + 1
        # Windows t' need flows up to j = t' + 7; flush whole chunks when they are available.
        while self._done_upto + self.chunk + HALF - 1 <= self._t - 2:
            self._windows(self._done_upto, self._done_upto + self.chunk)

    def _lm_in(self, frame: int, coords_of: int) -> np.ndarray:
        """Landmarks of `frame` in the crop coordinates of frame `coords_of`."""
        if self.segments[frame] == self.segments[coords_of]:
            return self.lm_crop[frame]
        return apply_affine(self.transforms[coords_of], self.landmarks[frame])

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Compute the remaining windows; returns (roi_vectors, model_input)."""
        if self._t != self.T:
            raise ValueError(f"got {self._t} frames, landmarks for {self.T}")
        while self._done_upto < self.T:
            self._windows(self._done_upto, min(self._done_upto + self.chunk, self.T))
        self._flows.clear()
        return self.roi_vectors, self.model_input

    def _windows(self, t0: int, t1: int) -> None:
        T = self.T
        ts = np.arange(t0, t1)
        B = len(ts)
        lo = max(t0 - HALF, 0)
        hi = min(t1 - 1 + HALF - 1, T - 2)
        if hi >= lo:
            keys = list(range(lo, hi + 1))
            flows = np.stack([self._flows[j] for j in keys])
        else:
            keys, flows = [], np.zeros((1, self.crop, self.crop, 2), np.float32)
        start = np.clip(ts - HALF, 0, T - 1)
        pos = sample_positions(self.lm_crop[start]).reshape(B, -1, 2)
        disp = np.zeros_like(pos)
        acc = np.zeros((B, WINDOW) + pos.shape[1:], dtype=np.float32)
        same_seg = self.segments[:-1] == self.segments[1:] if T > 1 else np.ones(0, bool)
        for k in range(1, WINDOW):
            j = ts - HALF + k - 1                     # flow from frame j to j + 1
            valid = (j >= 0) & (j <= T - 2)
            if valid.any():
                jv = j[valid]
                p = pos[valid]
                # Move points into the next segment's crop when the crop was re-anchored.
                moved = ~same_seg[jv] if len(same_seg) else np.zeros(len(jv), bool)
                if moved.any():
                    Ainv = _invert(self.transforms[jv[moved]])
                    p[moved] = apply_affine(self.transforms[jv[moved] + 1],
                                            apply_affine(Ainv, p[moved]))
                step = bilinear(flows, jv - lo, p)
                pos[valid] = p + step
                disp[valid] += step
            acc[:, k] = disp
        # roi_vectors[t]: flow t-1 -> t at the ROIs of frame t-1 (in the crop that flow uses).
        tv = ts[ts >= 1]
        if len(tv) and hi >= lo:
            src = np.stack([self._lm_in(t - 1, t) for t in tv])
            p = sample_positions(src).reshape(len(tv), -1, 2)
            vec = bilinear(flows, tv - 1 - lo, p).reshape(len(tv), N_GROUPS, N_PTS, 2)
            self.roi_vectors[tv] = compensated_directions(vec)
        groups = acc.reshape(B, WINDOW, N_GROUPS, N_PTS, 2)
        dirs = compensated_directions(groups)            # (B, 17, 12, 2)
        self.model_input[t0:t1] = dirs[:, :, list(NON_NOSE_ROIS)]
        for j in [j for j in self._flows if j < t1 - HALF]:
            del self._flows[j]
        self._done_upto = t1


def _invert(A: np.ndarray) -> np.ndarray:
    """Invert (..., 2, 3) affine transforms."""
    lin = np.linalg.inv(A[..., :2])
    off = -(lin @ A[..., 2:])
    return np.concatenate([lin, off], axis=-1)


def extract_motion(frames, landmarks: np.ndarray, flow: str = "dis", dis_preset: str = "medium",
                   progress: Callable[[int, int], None] | None = None,
                   cancel: Callable[[], bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """roi_vectors (T, 12, 2) and model_input (T, 17, 10, 2) from RGB frames and landmarks."""
    from .errors import CancelledError

    ex = MotionExtractor(landmarks, flow=flow, dis_preset=dis_preset)
    for i, rgb in enumerate(frames):
        if i >= ex.T:
            break
        if cancel is not None and cancel():
            raise CancelledError("feature extraction cancelled")
        ex.push(rgb)
        if progress is not None:
            progress(i + 1, ex.T)
    return ex.finish()

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
    """(..., N, 2) flow vectors -> (..., 2): dominant sector, top 60 % by magnitude, METHOD 1.5.

    Sectors are the four 90-degree quadrants centred on +x, +y, -x, -y; vectors of zero length
    vote for none. Written as flat, contiguous numpy passes: it runs on ~10^6 vectors a frame.
    """
    v = np.asarray(vectors, dtype=np.float32)
    x = np.ascontiguousarray(v[..., 0])
    y = np.ascontiguousarray(v[..., 1])
    mag = np.sqrt(x * x + y * y)
    horizontal = np.abs(x) >= np.abs(y)
    negative = np.where(horizontal, x < 0, y < 0)
    sector = (~horizontal).view(np.uint8) + 2 * negative.view(np.uint8)
    sector[mag == 0] = 4
    counts = np.stack([(sector == s).sum(axis=-1, dtype=np.int32) for s in range(4)], axis=-1)
    best = counts.argmax(axis=-1).astype(np.uint8)
    n_best = counts.max(axis=-1)
    in_best = sector == best[..., None]
    k = np.ceil(TOP_FRACTION * n_best).astype(np.int64)
    key = np.where(in_best, mag, np.float32(-1.0))
    ranked = np.sort(key, axis=-1)                       # ascending: the k-th largest is at N-k
    n = key.shape[-1]
    kth = np.take_along_axis(ranked, np.clip(n - k, 0, n - 1)[..., None], axis=-1)
    keep = in_best & (key >= kth) & (k > 0)[..., None]
    sx = (x * keep).sum(axis=-1)
    sy = (y * keep).sum(axis=-1)
    kept = np.maximum(keep.sum(axis=-1), 1)
    mean_mag = (mag * keep).sum(axis=-1) / kept
    norm = np.sqrt(sx * sx + sy * sy)
    scale = np.where(norm > 0, mean_mag / np.where(norm > 0, norm, 1), 0).astype(np.float32)
    return np.stack([sx * scale, sy * scale], axis=-1).astype(np.float32)


def compensated_directions(vectors: np.ndarray) -> np.ndarray:
    """(..., 13, N, 2) px vectors (12 ROIs + nose patch) -> (..., 12, 2) scaled to [-0.5, 0.5].

    Clip to the +-10 px bound, subtract the nose patch's main direction (head motion) from every
    ROI's vectors, clip again, take each ROI's main direction and divide by 2 x bound.
    """
    v = np.clip(vectors, -FLOW_BOUND, FLOW_BOUND)
    head = main_direction(v[..., -1, :, :])
    rois = np.clip(v[..., :-1, :, :] - head[..., None, None, :], -FLOW_BOUND, FLOW_BOUND)
    return np.clip(main_direction(rois) / (2 * FLOW_BOUND), -0.5, 0.5)


# -- streaming extractor ---------------------------------------------------------------------------
class MotionExtractor:
    """Feed frames in order; get roi_vectors (T, 12, 2) and model_input (T, 17, 10, 2).

    Streaming: each consecutive flow is used once, the moment it is computed, by the (at most 16)
    windows whose trajectories pass through it, sampled at their points' current positions with
    one cv2.remap call (bilinear, in C). Nothing but those trajectories is kept, so memory does
    not grow with the video, and no flow field is stored.
    """

    def __init__(self, landmarks: np.ndarray, flow: str = "dis", dis_preset: str = "medium",
                 crop: int = CROP, drift: float = 0.25, batch: int = 32):
        self.landmarks = np.asarray(landmarks, dtype=np.float64)
        self.T = len(self.landmarks)
        self.crop = crop
        self.transforms, self.segments = crop_transforms(self.landmarks, crop, drift)
        self.lm_crop = apply_affine(self.transforms, self.landmarks)           # (T, 68, 2)
        self.flow = FlowEngine(flow, dis_preset)
        self.batch = batch
        self.roi_vectors = np.zeros((self.T, len(ROI_LANDMARKS), 2), dtype=np.float32)
        self.model_input = np.zeros((self.T, WINDOW, len(NON_NOSE_ROIS), 2), dtype=np.float32)
        self._prev_gray = None
        self._prev_crop = None
        self._t = 0
        # window t -> [positions (M, 2), displacement (M, 2), acc (17, M, 2), last step done]
        self._win: dict[int, list] = {}
        self._done_windows: list[tuple[int, np.ndarray]] = []
        self._done_rois: list[tuple[int, np.ndarray]] = []

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
            self._use_flow(t - 1, self.flow(prev, crop))
        self._prev_gray, self._prev_crop = gray, crop
        self._t = t + 1

    def _lm_in(self, frame: int, coords_of: int) -> np.ndarray:
        """Landmarks of `frame` in the crop coordinates of frame `coords_of`."""
        if self.segments[frame] == self.segments[coords_of]:
            return self.lm_crop[frame]
        return apply_affine(self.transforms[coords_of], self.landmarks[frame])

    def _use_flow(self, j: int, flow: np.ndarray) -> None:
        """Flow from frame j to j+1 (in frame j+1's crop): one step for every window using it."""
        import cv2

        T = self.T
        reanchored = self.segments[j] != self.segments[j + 1]
        if reanchored:
            move = _compose(self.transforms[j + 1], _invert(self.transforms[j]))
        # Window w (frames w-8..w+8) takes this flow at step k = j - w + 9, for w in j-7..j+8.
        ws = list(range(max(j - HALF + 1, 0), min(j + HALF, T - 1) + 1))
        for w in ws:
            if w not in self._win:
                start = min(max(w - HALF, 0), T - 1)
                pos = sample_positions(self.lm_crop[start]).reshape(-1, 2).astype(np.float32)
                self._win[w] = [pos, np.zeros_like(pos),
                                np.zeros((WINDOW,) + pos.shape, np.float32), 0]
            elif reanchored:
                self._win[w][0] = apply_affine(move, self._win[w][0]).astype(np.float32)
        roi_pos = sample_positions(self._lm_in(j, j + 1)).reshape(-1, 2).astype(np.float32)
        pts = np.stack([roi_pos] + [self._win[w][0] for w in ws])          # (1 + W, M, 2)
        sampled = cv2.remap(flow, np.ascontiguousarray(pts[..., 0]),
                            np.ascontiguousarray(pts[..., 1]), cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
        self._done_rois.append((j + 1, sampled[0]))
        for r, w in enumerate(ws, start=1):
            state = self._win[w]
            k = j - w + HALF + 1
            state[0] = state[0] + sampled[r]
            state[1] = state[1] + sampled[r]
            state[2][k] = state[1]
            state[3] = k
            if k == WINDOW - 1:
                self._finish_window(w)
        self._flush(force=False)

    def _finish_window(self, w: int) -> None:
        _, disp, acc, last = self._win.pop(w)
        acc[last + 1:] = disp              # replicated frames at the end of the video: no motion
        self._done_windows.append((w, acc))

    def _flush(self, force: bool) -> None:
        if self._done_windows and (force or len(self._done_windows) >= self.batch):
            ws = [w for w, _ in self._done_windows]
            acc = np.stack([a for _, a in self._done_windows])
            dirs = compensated_directions(acc.reshape(len(ws), WINDOW, N_GROUPS, N_PTS, 2))
            self.model_input[ws] = dirs[:, :, list(NON_NOSE_ROIS)]
            self._done_windows.clear()
        if self._done_rois and (force or len(self._done_rois) >= self.batch):
            ts = [t for t, _ in self._done_rois]
            vec = np.stack([v for _, v in self._done_rois]).reshape(len(ts), N_GROUPS, N_PTS, 2)
            self.roi_vectors[ts] = compensated_directions(vec)
            self._done_rois.clear()

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Complete the last windows; returns (roi_vectors, model_input)."""
        if self._t != self.T:
            raise ValueError(f"got {self._t} frames, landmarks for {self.T}")
        for w in sorted(self._win):
            self._finish_window(w)
        self._flush(force=True)
        return self.roi_vectors, self.model_input


def _compose(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The 2x3 affine 'A after B'."""
    lin = A[:, :2] @ B[:, :2]
    return np.hstack([lin, (A[:, :2] @ B[:, 2:]) + A[:, 2:]])


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

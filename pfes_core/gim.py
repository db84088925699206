"""Pseudo-labels from point labels (METHOD.md section 3), recomputed every epoch from model outputs.

epoch 0: hard boxes around each point; then point-centred Gaussians in the intensity branch's
hidden space; from `gim_start` on, GIM: pseudo-apex, reliable-frame count -> adaptive duration ->
instance Gaussian, plus apex targets. Pseudo-neutral frames are mined from the lowest intensities
(the reference) or, as an option, the highest ones beyond every point's reach.
Everything works on full-length arrays where frames that were not evaluated this step are NaN.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

MAE_I, ME_I = 0, 1
NEUTRAL_MININGS = ("lowest", "hardest")


@dataclass(frozen=True)
class GimConstants:
    """Every pseudo-labelling constant, in one place. Defaults are the reference's."""

    k: tuple[int, int] = (32, 16)                 # typical length k_c (MaE, ME)
    hard_window: tuple[tuple[int, int], tuple[int, int]] = ((-5, 4), (-3, 2))  # epoch 0 boxes
    soft_scale: tuple[int, int] = (2, 1)          # soft window +- scale*d (MaE, ME)
    soft_d: tuple[int, int] = (1, 2)              # d before / from `soft_switch`
    soft_switch: int = 3                          # first epoch with d = 2
    gim_start: int = 5                            # first GIM epoch (also first apex-loss epoch)
    theta_start: float = 0.8                      # reliable threshold at gim_start
    theta_floor: float = 0.5                      # reached `theta_epochs` after gim_start
    theta_epochs: int = 24                        # 0.8 - (epoch-5)/80 until epoch 29, then 0.5
    duration_scale: float = 1.2                   # D = clip(round(1.2 n), lo, hi)
    duration_clip: tuple[tuple[int, int], tuple[int, int]] = ((16, 36), (8, 16))
    apex_half: tuple[int, int] = (2, 1)           # apex targets on a* +- half
    apex_neg_margin: int = 6                      # apex negatives within +-6 of expression frames
    gauss_eps: float = 1e-6
    keep_reliable: bool = False                   # widen sigma so the n reliable frames keep y >= theta
    # "lowest" (the reference; None means it too): neutrals are the K lowest-intensity frames
    # outside the windows. "hardest": the K highest-intensity frames beyond every point's reach
    # (`context_radius`), where a video whose every expression carries a point has none, so the
    # blinks and head turns the model fires on are taught as neutral. It cut false proposals but
    # cost recall on one of two fresh benchmark sets (RESULTS.md), so it is an option, not the default.
    neutral_mining: str | None = None
    # The reference's edge and overlap behaviour (faithful mode). Every window it builds (label,
    # apex search, reliable count) ends before the last frame, so that frame is never labelled;
    # a later window of the same class overwrites an earlier one instead of taking the maximum.
    skip_last_frame: bool = False
    overwrite_overlaps: bool = False

    def scaled_durations(self, fps: float | None, ref_fps: float = 30.0) -> "GimConstants":
        """The duration clip converted from frames at `ref_fps` to frames at `fps` (unchanged when
        fps is unknown or within 5 %). Why: the clip bounds are times (an ME lasts under 0.5 s);
        at 25 fps the reference's ME cap of 16 frames is 0.64 s, wider than any ME in the tables."""
        if not fps or abs(fps / ref_fps - 1.0) <= 0.05:
            return self
        r = fps / ref_fps
        clip = tuple((max(1, round(lo * r)), max(1, round(hi * r))) for lo, hi in self.duration_clip)
        return replace(self, duration_clip=clip)

    @property
    def context_radius(self) -> int:
        """Frames around a point that GIM can read: apex search + widest Gaussian + apex margin."""
        return max(k // 4 + max(k // 2, hi // 2) for k, (_, hi) in zip(self.k, self.duration_clip)) \
            + self.apex_neg_margin

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GimConstants":
        def tup(v):
            return tuple(tup(x) for x in v) if isinstance(v, (list, tuple)) else v
        return cls(**{k: tup(v) for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class PseudoLabels:
    """Targets for one video (full length T)."""

    y: np.ndarray          # (T, 2) soft intensity per class, 0 outside that class's windows
    in_window: np.ndarray  # (T, 2) bool: frame belongs to a pseudo-instance of that class
    neutral: np.ndarray    # (T,) bool: pseudo-neutral frames
    apex: np.ndarray | None  # (T, 2) float: 1 positive, 0 negative, -1 ignored; None before GIM
    instances: list[dict]  # per point: cls, point, centre (pseudo-apex), lo, hi (inclusive)


def phase(epoch: int, c: GimConstants, ablation: str = "full") -> str:
    """'hard', 'soft' or 'gim' for this epoch; the hard ablation stays hard."""
    if ablation == "hard" or epoch <= 0:
        return "hard"
    return "soft" if epoch < c.gim_start else "gim"


def reliable_threshold(epoch: int, c: GimConstants) -> float:
    """theta = 0.8 - (epoch - 5)/80, reaching 0.5 at epoch 29 and staying there."""
    steps = epoch - c.gim_start
    if steps >= c.theta_epochs:
        return c.theta_floor
    return c.theta_start - (c.theta_start - c.theta_floor) * max(steps, 0) / c.theta_epochs


def gim_duration(n_reliable: int, cls: int, c: GimConstants) -> int:
    """Adaptive instance duration D = clip(round(1.2 n), lo, hi)."""
    lo, hi = c.duration_clip[cls]
    return int(min(hi, max(lo, round(n_reliable * c.duration_scale))))


def _span(lo: int, hi: int, n: int, c: GimConstants | None = None) -> tuple[int, int]:
    """[lo, hi] clipped to the video (to its second-to-last frame with `skip_last_frame`)."""
    last = n - 2 if c is not None and c.skip_last_frame else n - 1
    return max(lo, 0), min(hi, last)


def pseudo_apex(a: np.ndarray, point: int, cls: int, c: GimConstants) -> int:
    """argmax of a in [p - k/4, p + k/4] (NaN frames never win)."""
    k = c.k[cls]
    lo, hi = _span(point - k // 4, point + k // 4, len(a), c)
    seg = np.nan_to_num(a[lo:hi + 1], nan=-np.inf)
    return lo + int(np.argmax(seg))


def gaussian_labels(h: np.ndarray, centre: int, lo: int, hi: int, eps: float = 1e-6,
                    keep: tuple[int, float] | None = None) -> np.ndarray:
    """y_t = exp(-||h_t - h_c||^2 / (2 sigma^2)), sigma^2 = mean window distance, t in [lo, hi].

    keep=(n, theta): sigma^2 is raised where needed so that the n frames nearest the centre in h
    get y >= theta. Why: with the reference's sigma the frames above theta in the labels can be
    fewer than the n reliable frames that sized the window (D = 1.2 n); the model then learns a
    narrower bump, n shrinks, and so on. On the accuracy benchmark this loop halved the share of
    MaE frames with intensity > 0.5 between epochs 6 and 18.
    """
    seg = h[lo:hi + 1].astype(np.float64)
    d2 = ((seg - h[centre].astype(np.float64)) ** 2).sum(axis=1)
    var = d2.mean()
    if keep is not None and keep[0] > 0 and 0.0 < keep[1] < 1.0:
        rank = min(keep[0], d2.size) - 1
        nth = np.partition(d2, rank)[rank]              # distance of the n-th nearest frame
        var = max(var, nth / (2.0 * np.log(1.0 / keep[1])))
    return np.exp(-d2 / (2.0 * var + eps))


def mine_neutrals(a: np.ndarray, expression: np.ndarray, far: np.ndarray | None = None) -> np.ndarray:
    """K evaluated frames outside every window, K = #expression frames (>= 1): the lowest-intensity
    ones, or with `far` (frames beyond every point's reach) the highest-intensity far ones (the
    lowest ones when no evaluated frame is far)."""
    pool = ~expression & ~np.isnan(a)
    hardest = far is not None and bool((pool & far).any())
    if hardest:
        pool &= far
    candidates = np.flatnonzero(pool)
    out = np.zeros(len(a), dtype=bool)
    if len(candidates) == 0:
        return out
    k = max(1, min(len(candidates), int(expression.sum())))
    values = -a[candidates] if hardest else a[candidates]
    order = np.argsort(values, kind="stable")[:k]
    out[candidates[order]] = True
    return out


def near_points(n: int, points, radius: int) -> np.ndarray:
    """(n,) bool: frames within `radius` of a point (frame, class)."""
    near = np.zeros(n, dtype=bool)
    for p, _ in points:
        near[max(p - radius, 0):min(p + radius + 1, n)] = True
    return near


def make_pseudo_labels(points: list[tuple[int, int]], a: np.ndarray, h: np.ndarray, epoch: int,
                       c: GimConstants, ablation: str = "full",
                       durations: dict[tuple[int, int], int] | None = None) -> PseudoLabels:
    """Pseudo-labels for one video. points: (frame, class index 0=MaE 1=ME); a (T,), h (T, C).

    durations: reviewed span lengths per (point, class) (`review_supervision` span priors); such a
    point's GIM window takes that duration instead of the adaptive one."""
    n = len(a)
    y = np.zeros((n, 2), dtype=np.float64)
    in_win = np.zeros((n, 2), dtype=bool)
    apex_pos = np.zeros((n, 2), dtype=bool)
    ph = phase(epoch, c, ablation)
    theta = reliable_threshold(epoch, c)
    instances = []
    for p, cls in points:
        if not 0 <= p < n or (c.skip_last_frame and n < 2):     # a 1-frame video has no labelable frame
            continue
        if ph == "hard":
            off_lo, off_hi = c.hard_window[cls]
            lo, hi = _span(p + off_lo, p + off_hi, n, c)
            vals = np.ones(hi - lo + 1)
            centre = p
        elif ph == "soft":
            d = c.soft_d[0] if epoch < c.soft_switch else c.soft_d[1]
            r = c.soft_scale[cls] * d
            lo, hi = _span(p - r, p + r, n, c)
            centre = p
            vals = gaussian_labels(h, centre, lo, hi, c.gauss_eps)
        else:
            centre = pseudo_apex(a, p, cls, c)
            k = c.k[cls]
            rlo, rhi = _span(centre - k // 2, centre + k // 2, n, c)
            n_rel = int(np.sum(np.nan_to_num(a[rlo:rhi + 1], nan=-1.0) > theta))
            dur = gim_duration(n_rel, cls, c)
            if durations and (p, cls) in durations:
                dur = int(durations[(p, cls)])
            lo, hi = _span(centre - dur // 2, centre + dur // 2, n, c)
            vals = gaussian_labels(h, centre, lo, hi, c.gauss_eps,
                                   keep=(n_rel, theta) if c.keep_reliable else None)
        if c.overwrite_overlaps:
            y[lo:hi + 1, cls] = vals
        else:
            y[lo:hi + 1, cls] = np.maximum(y[lo:hi + 1, cls], vals)
        in_win[lo:hi + 1, cls] = True
        # Apex targets once GIM runs; the hard ablation uses the clicked frame as its apex.
        if epoch >= c.gim_start:
            half = c.apex_half[cls]
            alo, ahi = _span(centre - half, centre + half, n)
            apex_pos[alo:ahi + 1, cls] = True
        instances.append({"cls": int(cls), "point": int(p), "centre": int(centre),
                          "lo": int(lo), "hi": int(hi)})
    expression = in_win.any(axis=1)
    far = ~near_points(n, points, c.context_radius) if c.neutral_mining == "hardest" else None
    neutral = mine_neutrals(a, expression, far)
    apex = None
    if epoch >= c.gim_start:
        strong = (y > 0.5).any(axis=1)
        near = np.zeros(n, dtype=bool)
        m = c.apex_neg_margin
        for t in np.flatnonzero(strong):
            near[max(t - m, 0):t + m + 1] = True
        apex = np.full((n, 2), -1.0)
        apex[near | neutral] = 0.0
        apex[apex_pos] = 1.0
    return PseudoLabels(y=y.astype(np.float32), in_window=in_win, neutral=neutral,
                        apex=None if apex is None else apex.astype(np.float32), instances=instances)

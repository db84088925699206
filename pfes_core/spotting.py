"""From per-frame intensity a_t and apex scores q_t to scored MaE/ME intervals (METHOD.md section 5).

Pipeline of `propose`:

1. Candidates: for every threshold in ``preset.thresholds`` the maximal runs of consecutive frames
   with ``a > threshold``. The same run found at several thresholds is kept once (identical
   score; duplicates would only suppress each other in soft-NMS).
2. Per run and class: peak ``t* = argmax a`` (first maximum) inside the run; kept for class c when
   ``q[t*, c] > preset.class_gate``; ``score = mean(a inside) - mean(a in flanks) +
   apex_weight * q[t*, c]``. The flanks are ``max(1, round(flank_ratio * length))`` frames on each
   side, clipped to the video; when both flanks fall outside the video the flank mean is 0.
3. Gaussian soft-NMS per class: repeatedly take the best remaining candidate and multiply every
   other remaining score by ``exp(-IoU^2 / sigma)``. Soft-NMS only lowers scores, so once the best
   remaining score is below the class's score threshold nothing left can pass the score filter;
   the loop stops there (same result, much faster on long videos).
4. Keep MaE with length in ``mae_length`` and score >= ``score_threshold[0]``, ME likewise.
5. Greedy NMS per class at IoU ``nms_iou`` (0.5), best score first, at most ``budget[c]``
   intervals per video and class.
6. When the video's ROI motion is given and ``release_gap`` is set: a MaE proposal that ends where
   the face stops at the apex is joined to its release (`pfes_core.release_pairing`).
7. ME proposals without a real peak (``me_min_peak``) or, given the motion, whose face does not
   come back (``me_max_openness``) are dropped (`pfes_core.me_return`).
8. Given the video's head track, ME proposals over which the head moves more than
   ``me_max_head_motion`` eye distances are dropped (`pfes_core.head_motion`).

IoU everywhere is on inclusive frame intervals: ``|A n B| / |A u B|`` counted in frames, so
[0, 9] vs [5, 14] has 5 / 15 = 1/3.

Faithful mode (`for_mode(preset, "faithful")`) swaps this pipeline for the published one, quirks
included (`pfes_core.spotting_faithful`).

Frame-length limits are in frames at ``preset.ref_fps``. `scale_lengths` converts them for a video
at another frame rate; callers apply it only when the effective frame rate differs from the
preset's by more than `FPS_TOLERANCE` (the presets already cover the 25-30 fps working range the
method targets, and rescaling the narrow ME range 9..15 by a few percent would only add rounding
noise).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from .errors import PfesError
from .types import CLASSES, MAE, Interval

#: Relative frame-rate difference above which length limits are rescaled (see module docstring).
FPS_TOLERANCE = 0.15


@dataclass(frozen=True)
class SpottingPreset:
    """Every constant of the proposal pipeline; one named preset per dataset style.

    Tuples indexed by class follow `CLASSES` order: (MaE, ME). A budget entry of None means no cap.
    ``budget_period_s``: when set, the budget applies per that many seconds of video (rounded up,
    at least one period), so long videos are not starved; None means per video (the reference).
    ``exclusive_classes``: a run passes the gate only for the class with the higher apex score at
    its peak (ties go to MaE). The reference (False) lets both branches claim the same run, which
    always costs one false positive when both apex scores exceed the gate.
    ``cross_class_overlap``: when set, an ME proposal and a MaE proposal that share at least this
    share of the ME proposal's frames do not both survive; the lower-scored one goes (an ME
    proposal on a MaE's peak is the same movement claimed twice). None keeps both (the reference).
    ``me_covers_mae``: when set, a MaE proposal of which an ME proposal that passed every ME check
    covers at least this share of frames goes, whatever the scores: a movement so short that an
    ME's extent spans that much of it is taken for the ME (`suppress_short_mae`). Long MaE
    proposals with an ME proposal on one part are untouched. None keeps both.
    ``release_gap``: frames (at ``ref_fps``) after a MaE proposal within which its release may
    start; None turns the joining of onset and release off (`pfes_core.release_pairing`, which
    also explains ``release_threshold``, ``release_max_cos`` and ``release_min_openness``).
    ``me_min_peak``, ``me_max_openness``: an ME proposal must reach this intensity, and its ROIs'
    net displacement may be at most this share of their path (`pfes_core.me_return`); None: off.
    ``me_max_head_motion``: eye distances the head may move over an ME proposal
    (`pfes_core.head_motion`); None: off.
    ``lengths_first``: per class (MaE, ME), drop candidates outside the class's length range before
    soft-NMS instead of after it, so a run too long (or short) for the class cannot suppress one
    that fits; (False, False) is the reference's order.
    ``class_evidence``: where a run's apex score is read for its class gate and score: "peak" (the
    reference: at the intensity peak) or "run" (the best apex score anywhere in the run; a long
    MaE's intensity peaks at its onset, not at the apex the branch learned).
    ``faithful``: run the published proposal rules instead of the project's
    (`pfes_core.spotting_faithful`; made by `for_mode` for faithful-mode runs).
    """

    name: str = "default"
    thresholds: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    flank_ratio: float = 0.2
    apex_weight: float = 0.2
    class_gate: float = 0.5
    soft_nms_sigma: float = 0.3
    mae_length: tuple[int, int] = (15, 240)
    me_length: tuple[int, int] = (9, 15)
    score_threshold: tuple[float, float] = (0.3, 0.3)
    budget: tuple[int | None, int | None] = (8, 8)
    budget_period_s: float | None = None
    nms_iou: float = 0.5
    ref_fps: float = 30.0
    exclusive_classes: bool = False
    cross_class_overlap: float | None = None
    me_covers_mae: float | None = None
    release_gap: int | None = None
    release_threshold: float = 0.3
    release_max_cos: float = -0.5
    release_min_openness: float = 0.2
    me_min_peak: float | None = None
    me_max_openness: float | None = None
    me_max_head_motion: float | None = None
    class_evidence: str = "peak"
    lengths_first: tuple[bool, bool] = (False, False)
    faithful: bool = False

    def length_range(self, cls: str) -> tuple[int, int]:
        return self.mae_length if cls == MAE else self.me_length

    def to_dict(self) -> dict:
        """JSON-able form (stored with predictions so a result says how it was made)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out


# The reference's three dataset settings, plus one for our synthetic demo and typical 25-30 fps
# recordings. casme3: CAS(ME)^3 has about as many MaE per minute as CAS(ME)^2 but roughly twice the
# ME rate, so the ME cap sits between CAS(ME)^2 (2) and SAMM-LV (8); the published code uses 2, which
# faithful mode restores (`for_mode`). "default": for 25-30 fps
# recordings and the synthetic demo (25 fps, real-table timings: ME 5..14 frames, MaE from ~13):
# length ranges are the real tables' at 25-30 fps with one frame of slack (ME 6..16, MaE 12..240),
# a per-minute budget (6 MaE, 4 ME per started minute) keeps the cap meaningful for both a
# 20-second clip and a 10-minute recording, and the score thresholds are those of the
# lower-intensity datasets (0.3/0.3). Its MaE proposals are joined to their releases within 20
# frames (0.7 s), and its ME proposals must peak at 0.5 and return (net ROI displacement at most
# 0.7 of the path), and not over a head movement of more than 0.01 eye distances; ME candidates of
# the wrong length are set aside before soft-NMS, so a run too long for an ME no longer suppresses
# the one that fits: chosen on the synthetic benchmark (RESULTS.md, "Onset and release", "ME
# proposals that do not return", "ME proposals on a head turn"); the reference's dataset presets
# keep the published rules and can opt in from the settings (`pfes spotting`).
PRESETS: dict[str, SpottingPreset] = {
    "casme2": SpottingPreset(name="casme2", score_threshold=(0.5, 0.5), budget=(8, 2), ref_fps=30.0),
    "samm_lv": SpottingPreset(name="samm_lv", score_threshold=(0.4, 0.3), budget=(8, 8),
                              ref_fps=200.0 / 7.0),
    "casme3": SpottingPreset(name="casme3", score_threshold=(0.3, 0.3), budget=(8, 4), ref_fps=30.0),
    "default": SpottingPreset(name="default", mae_length=(12, 240), me_length=(6, 16),
                              score_threshold=(0.3, 0.3), budget=(6, 4), budget_period_s=60.0,
                              ref_fps=27.5, release_gap=20, me_min_peak=0.5, me_max_openness=0.7,
                              me_max_head_motion=0.01, lengths_first=(False, True)),
}


#: The project's ME rules (peak, return, head motion, a short MaE under an ME) and its length
#: ordering, switched off: faithful mode, the motion baseline and the look queue's loose candidates
#: all leave these out, so a new rule of this kind is switched off here once.
ME_RULES_OFF: dict = {"me_min_peak": None, "me_max_openness": None, "me_max_head_motion": None,
                      "me_covers_mae": None, "lengths_first": (False, False)}

#: Where the published code's dataset settings differ from the project's presets of the same name.
#: casme3: the published ME budget is 2 per video (as CAS(ME)^2); the project's preset allows 4
#: (see the comment above PRESETS). Faithful mode uses the published value.
REFERENCE_BUDGETS: dict[str, tuple[int, int]] = {"casme2": (8, 2), "samm_lv": (8, 8), "casme3": (8, 2)}


def for_mode(preset: SpottingPreset, mode: str | None) -> SpottingPreset:
    """The preset a training mode proposes with: unchanged in default mode; in faithful mode the
    published rules (`spotting_faithful`) with the published thresholds, and for the three dataset
    presets the published per-video budgets (unless the project's settings changed the budget).
    Any other preset keeps its own numbers under the published rules."""
    if mode != "faithful":
        return preset
    from .spotting_faithful import REFERENCE_THRESHOLDS

    changes: dict = {"faithful": True, "exclusive_classes": False, "release_gap": None, "class_evidence": "peak",
                     **ME_RULES_OFF}
    if preset.name in REFERENCE_BUDGETS:
        changes["thresholds"] = REFERENCE_THRESHOLDS
        if preset.budget == PRESETS[preset.name].budget and preset.budget_period_s is None:
            changes["budget"] = REFERENCE_BUDGETS[preset.name]
    return replace(preset, **changes)


def _coerce(name: str, value, current):
    """Convert a JSON value (lists, numbers) to the type of the preset field it overrides."""
    if isinstance(current, tuple):
        if not isinstance(value, (list, tuple)):
            raise PfesError(f"spotting setting {name!r} must be a list, got {value!r}")
        if name == "budget":
            return tuple(None if v is None else int(v) for v in value)
        if name in ("mae_length", "me_length"):
            return tuple(int(v) for v in value)
        if name == "lengths_first":
            if len(value) != 2 or not all(isinstance(v, bool) for v in value):
                raise PfesError(f"spotting setting 'lengths_first' must be two true/false values (MaE, ME), got {value!r}")
            return tuple(value)
        return tuple(float(v) for v in value)
    if value is None:
        return None
    if name == "release_gap":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
            raise PfesError(f"spotting setting 'release_gap' must be a whole number of frames >= 1 or null, got {value!r}")
        return int(value)
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise PfesError(f"spotting setting {name!r} must be true or false, got {value!r}")
        return value
    if isinstance(current, str):
        return str(value)
    return float(value)


def preset_from_settings(name: str | None = None, overrides: dict | None = None) -> SpottingPreset:
    """Named preset with fields replaced from project settings (``settings["spotting"]``).

    Unknown preset names and unknown fields raise PfesError so a typo in the settings is visible.
    """
    name = name or "default"
    if name not in PRESETS:
        raise PfesError(f"unknown spotting preset {name!r} (choose from {', '.join(PRESETS)})")
    preset = PRESETS[name]
    if not overrides:
        return preset
    known = {f.name for f in fields(SpottingPreset)}
    changes = {}
    for key, value in overrides.items():
        if key in ("preset",):
            continue
        if key not in known:
            raise PfesError(f"unknown spotting setting {key!r}")
        changes[key] = _coerce(key, value, getattr(preset, key))
    out = replace(preset, **changes)
    for lo, hi in (out.mae_length, out.me_length):
        if not 1 <= lo <= hi:
            raise PfesError(f"bad spotting length range {lo}..{hi}")
    if out.me_max_head_motion is not None and out.me_max_head_motion < 0:
        raise PfesError(f"spotting setting 'me_max_head_motion' must be >= 0 or null, got {out.me_max_head_motion}")
    if out.class_evidence not in ("peak", "run"):
        raise PfesError(f"spotting setting 'class_evidence' must be 'peak' or 'run', got {out.class_evidence!r}")
    for key in ("me_min_peak", "me_max_openness"):
        value = getattr(out, key)
        if value is not None and not 0.0 <= value <= 1.0:
            raise PfesError(f"spotting setting {key!r} must be in [0, 1] or null, got {value}")
    if not -1.0 <= out.release_max_cos <= 1.0 or not 0.0 <= out.release_min_openness <= 1.0:
        raise PfesError("spotting settings 'release_max_cos' must be in [-1, 1] and 'release_min_openness' in [0, 1]")
    for key in ("cross_class_overlap", "me_covers_mae"):
        value = getattr(out, key)
        if value is not None and not 0.0 < value <= 1.0:
            raise PfesError(f"spotting setting {key!r} must be in (0, 1] or null, got {value}")
    return out


def project_preset(settings: dict | None, name: str | None = None) -> SpottingPreset:
    """The preset a project uses: ``settings["spotting"]`` = ``{"preset": NAME, <field>: value}``.

    ``name`` (e.g. a command-line choice) replaces the settings' preset name; the field overrides
    from the settings still apply on top of whichever preset is chosen.
    """
    spot = dict((settings or {}).get("spotting") or {})
    base = name or spot.pop("preset", None) or "default"
    spot.pop("preset", None)
    return preset_from_settings(base, spot)


def scale_lengths(preset: SpottingPreset, fps: float, ref_fps: float | None = None) -> SpottingPreset:
    """Preset whose frame-length limits are converted from ``ref_fps`` to ``fps`` frames.

    Lower bounds round down and upper bounds round up (never reject what the preset would accept
    at its own rate), with a floor of 1 frame.
    """
    ref = float(ref_fps if ref_fps is not None else preset.ref_fps)
    if fps <= 0 or ref <= 0:
        raise PfesError(f"bad frame rate {fps} for length scaling")
    ratio = float(fps) / ref

    def conv(rng: tuple[int, int]) -> tuple[int, int]:
        lo = max(1, int(math.floor(rng[0] * ratio + 1e-9)))
        hi = max(lo, int(math.ceil(rng[1] * ratio - 1e-9)))
        return (lo, hi)

    gap = None if preset.release_gap is None else max(1, int(math.ceil(preset.release_gap * ratio - 1e-9)))
    return replace(preset, mae_length=conv(preset.mae_length), me_length=conv(preset.me_length),
                   release_gap=gap, ref_fps=float(fps))


def preset_for_fps(preset: SpottingPreset, fps: float | None) -> SpottingPreset:
    """Apply `scale_lengths` only when ``fps`` is off the preset's rate by more than FPS_TOLERANCE.
    Faithful presets are never rescaled: the published code takes its frame limits as given."""
    if not fps or fps <= 0 or preset.faithful:
        return preset
    if abs(fps / preset.ref_fps - 1.0) <= FPS_TOLERANCE:
        return preset
    return scale_lengths(preset, fps)


# ----------------------------------------------------------------------------- geometry


def iou_1d(a_on, a_off, b_on, b_off):
    """IoU of inclusive frame intervals; numpy-broadcasting. Lengths are ``off - on + 1``."""
    inter = np.minimum(a_off, b_off) - np.maximum(a_on, b_on) + 1
    inter = np.maximum(inter, 0)
    union = (np.asarray(a_off) - a_on + 1) + (np.asarray(b_off) - b_on + 1) - inter
    return inter / np.maximum(union, 1)


def shared_frames(a: Interval, b: Interval) -> int:
    """Frames two Intervals have in common (inclusive ends); zero or negative when apart."""
    return min(a.offset, b.offset) - max(a.onset, b.onset) + 1


def interval_iou(a: Interval, b: Interval) -> float:
    """IoU of two Intervals (inclusive frames), ignoring class and video. Plain arithmetic, not
    `iou_1d`: the review desk asks this per proposal and decision on every edit."""
    inter = shared_frames(a, b)
    if inter <= 0:
        return 0.0
    return inter / max((a.offset - a.onset + 1) + (b.offset - b.onset + 1) - inter, 1)


# ----------------------------------------------------------------------------- candidates


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of maximal True runs, ends inclusive."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    d = np.diff(padded)
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return starts, ends


def _candidates(a: np.ndarray, thresholds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique (start, end, peak) over all thresholds; peak = first argmax of a inside the run."""
    starts_all, ends_all, peaks_all = [], [], []
    for th in thresholds:
        starts, ends = _runs(a > th)
        if starts.size == 0:
            continue
        # Runs at one threshold are disjoint: segment-wise argmax via a stable lexsort.
        lengths = ends - starts + 1
        seg = np.repeat(np.arange(starts.size), lengths)
        first = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        idx = np.arange(lengths.sum()) - np.repeat(first, lengths) + np.repeat(starts, lengths)
        order = np.lexsort((idx, -a[idx], seg))  # by segment, then value desc, then frame asc
        peaks = idx[order[first]]
        starts_all.append(starts)
        ends_all.append(ends)
        peaks_all.append(peaks)
    if not starts_all:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    s = np.concatenate(starts_all)
    e = np.concatenate(ends_all)
    p = np.concatenate(peaks_all)
    key = s.astype(np.int64) * (a.size + 1) + e
    _, keep = np.unique(key, return_index=True)
    return s[keep], e[keep], p[keep]


def _run_max(q: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """(n, 2): per run [s, e] the column-wise max of q over its frames. One `reduceat` over the
    interleaved bounds: every even slot is a run, the odd slots in between are discarded."""
    padded = np.vstack([q, np.zeros((1, q.shape[1]))])
    bounds = np.column_stack([s, e + 1]).ravel()
    return np.maximum.reduceat(padded, bounds, axis=0)[::2]


def _base_scores(a: np.ndarray, s: np.ndarray, e: np.ndarray, flank_ratio: float) -> np.ndarray:
    """mean(a inside) - mean(a in the two flanks), via prefix sums."""
    T = a.size
    csum = np.concatenate(([0.0], np.cumsum(a, dtype=np.float64)))
    length = e - s + 1
    inside = (csum[e + 1] - csum[s]) / length
    f = np.maximum(1, np.round(flank_ratio * length).astype(np.int64))
    l_lo = np.maximum(s - f, 0)
    r_hi = np.minimum(e + f, T - 1)
    left_n = s - l_lo
    right_n = r_hi - e
    left_sum = csum[s] - csum[l_lo]
    right_sum = csum[r_hi + 1] - csum[e + 1]
    n = left_n + right_n
    flank = np.where(n > 0, (left_sum + right_sum) / np.maximum(n, 1), 0.0)
    return inside - flank


def soft_nms(onsets: np.ndarray, offsets: np.ndarray, scores: np.ndarray, sigma: float,
             stop_below: float = -np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian soft-NMS. Returns (indices in pick order, their final scores).

    Candidates still unpicked when the best remaining score drops below ``stop_below`` are
    dropped: they could only end lower.
    """
    remaining = np.arange(scores.size)
    cur = scores.astype(np.float64).copy()
    picked, final = [], []
    while remaining.size:
        j = int(np.argmax(cur))
        best = cur[j]
        if best < stop_below:
            break
        idx = remaining[j]
        picked.append(idx)
        final.append(best)
        remaining = np.delete(remaining, j)
        cur = np.delete(cur, j)
        if remaining.size:
            ov = iou_1d(onsets[idx], offsets[idx], onsets[remaining], offsets[remaining])
            hit = ov > 0
            if hit.any():
                cur[hit] *= np.exp(-(ov[hit] ** 2) / sigma)
    return np.asarray(picked, dtype=np.int64), np.asarray(final, dtype=np.float64)


def greedy_nms(onsets: np.ndarray, offsets: np.ndarray, scores: np.ndarray, iou: float,
               budget: int | None) -> np.ndarray:
    """Indices kept by hard NMS (best score first, drop IoU >= iou with a kept one), capped."""
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    for i in order:
        if budget is not None and len(kept) >= budget:
            break
        if kept:
            ov = iou_1d(onsets[i], offsets[i], onsets[kept], offsets[kept])
            if np.any(ov >= iou):
                continue
        kept.append(int(i))
    return np.asarray(kept, dtype=np.int64)


def _effective_budget(base: int | None, preset: SpottingPreset, n_frames: int,
                      fps: float | None) -> int | None:
    if base is None or preset.budget_period_s is None or not fps:
        return base
    periods = max(1, math.ceil(n_frames / (fps * preset.budget_period_s) - 1e-9))
    return int(base) * periods


def propose(intensity, apex, preset: SpottingPreset | None = None, video: str = "",
            fps: float | None = None, motion=None, head=None) -> list[Interval]:
    """Scored intervals for one video, sorted by onset. See the module docstring for each step.

    ``intensity``: (T,) a_t in [0, 1]; ``apex``: (T, 2) q_t for (MaE, ME). ``fps`` is only used
    for a per-period budget (``preset.budget_period_s``); length limits are taken as given (apply
    `preset_for_fps` first if the video's rate differs from the preset's). ``motion``: the video's
    ROI motion (T, R, 2) for steps 6 and 7; without it MaE proposals are not joined to their
    releases. ``head``: its head track (T, 2) for step 8 (`head_motion.head_track`).
    """
    preset = preset or PRESETS["default"]
    a = np.asarray(intensity, dtype=np.float64).reshape(-1)
    q = np.asarray(apex, dtype=np.float64)
    if q.ndim != 2 or q.shape != (a.size, 2):
        raise PfesError(f"apex scores must be (T, 2) with T={a.size}, got {q.shape}")
    if a.size == 0:
        return []
    a = np.nan_to_num(a, nan=0.0)
    q = np.nan_to_num(q, nan=0.0)
    for what, signal in (("ROI motion", motion), ("head track", head)):
        if signal is not None and len(signal) != a.size:
            raise PfesError(f"{what} has {len(signal)} frames, the model output {a.size}: "
                            "the features and the predictions are of different extractions")
    if motion is not None:
        motion = np.nan_to_num(np.asarray(motion, dtype=np.float64).reshape(a.size, -1))
    if preset.faithful:
        from . import spotting_faithful

        budget = tuple(_effective_budget(b, preset, a.size, fps) for b in preset.budget)
        return spotting_faithful.propose(a, q, preset, video=video, budget=budget)
    s, e, p = _candidates(a, preset.thresholds)
    if s.size == 0:
        return []
    base = _base_scores(a, s, e, preset.flank_ratio)
    length = e - s + 1
    evidence = q[p] if preset.class_evidence == "peak" else _run_max(q, s, e)
    out: list[Interval] = []
    for c, cls in enumerate(CLASSES):
        qc = evidence[:, c]
        gate = qc > preset.class_gate
        if preset.exclusive_classes:
            other = evidence[:, 1 - c]
            gate &= (qc > other) | ((qc == other) & (c == 0))
        lo, hi = preset.length_range(cls)
        if preset.lengths_first[c]:
            gate &= (length >= lo) & (length <= hi)
        if not gate.any():
            continue
        cs, ce, cp = s[gate], e[gate], p[gate]
        score = base[gate] + preset.apex_weight * qc[gate]
        thr = preset.score_threshold[c]
        order, final = soft_nms(cs, ce, score, preset.soft_nms_sigma, stop_below=thr)
        if order.size == 0:
            continue
        ln = length[gate][order]
        ok = (ln >= lo) & (ln <= hi) & (final >= thr)
        order, final = order[ok], final[ok]
        if order.size == 0:
            continue
        budget = _effective_budget(preset.budget[c], preset, a.size, fps)
        keep = greedy_nms(cs[order], ce[order], final, preset.nms_iou, budget)
        for k in keep:
            i = order[k]
            out.append(Interval(video=video, cls=cls, onset=int(cs[i]), apex=int(cp[i]),
                                offset=int(ce[i]), score=float(final[k])))
    if preset.release_gap and motion is not None:
        from .release_pairing import pair_releases

        out = pair_releases(out, a, motion, preset)
    if preset.me_min_peak is not None or (preset.me_max_openness is not None and motion is not None):
        from .me_return import drop_incomplete_me

        out = drop_incomplete_me(out, a, motion, preset)
    if preset.me_max_head_motion is not None and head is not None:
        from .head_motion import drop_me_on_head_motion

        out = drop_me_on_head_motion(out, head, preset)
    if preset.me_covers_mae is not None:
        out = suppress_short_mae(out, preset.me_covers_mae)
    if preset.cross_class_overlap is not None:
        out = suppress_cross_class(out, preset.cross_class_overlap)
    out.sort(key=lambda iv: (iv.onset, iv.offset, iv.cls))
    return out


def suppress_cross_class(proposals: list[Interval], min_share: float) -> list[Interval]:
    """Of an ME and a MaE proposal sharing at least `min_share` of the ME proposal's frames, keep
    the higher-scored one (ties keep the MaE). Highest scores are settled first."""
    kept: list[Interval] = []
    for iv in sorted(proposals, key=lambda p: (-(p.score or 0.0), p.cls != MAE)):
        clash = False
        for other in kept:
            if other.cls == iv.cls:
                continue
            me = iv if iv.cls != MAE else other
            shared = shared_frames(iv, other)
            if shared > 0 and shared >= min_share * (me.offset - me.onset + 1):
                clash = True
                break
        if not clash:
            kept.append(iv)
    return kept


def suppress_short_mae(proposals: list[Interval], min_cover: float) -> list[Interval]:
    """Drop each MaE proposal of which one ME proposal covers at least `min_cover` of the frames.

    Run after the ME checks (peak, return, head motion), so only an ME that survived them can
    claim a movement. On the synthetic benchmark most false positives of a first training were a
    short MaE proposal on a true ME that was also proposed as an ME (RESULTS.md, "A MaE proposal
    on every spotted ME")."""
    mes = [p for p in proposals if p.cls != MAE]
    kept = []
    for iv in proposals:
        if iv.cls == MAE and any(shared_frames(iv, me) >= min_cover * iv.length for me in mes):
            continue
        kept.append(iv)
    return kept


__all__ = ["SpottingPreset", "PRESETS", "ME_RULES_OFF", "REFERENCE_BUDGETS", "for_mode", "FPS_TOLERANCE", "preset_from_settings", "project_preset", "scale_lengths",
           "preset_for_fps", "propose", "suppress_cross_class", "suppress_short_mae", "iou_1d", "shared_frames", "interval_iou", "soft_nms", "greedy_nms"]

"""Keep an ME proposal only where a whole micro-expression fits: a real peak, and a face that
comes back.

Why: a micro-expression is brief, and it ends where it started (its offset is the return to
neutral), so over an ME proposal's frames the ROIs travel out and back and their net displacement
is small against the path travelled. Most false ME proposals on the synthetic benchmark were
weak bumps (peak intensity median 0.54, against 0.86 on true ones) or one-way movements (net
displacement close to the path: the start of something longer, or a shift of the face); see
benchmarks/RESULTS.md, "ME proposals that do not return".

An ME proposal is dropped when the intensity inside never reaches ``preset.me_min_peak``, or when,
given the video's ROI motion, its net displacement exceeds ``preset.me_max_openness`` x its path
(`release_pairing.openness`). Either rule is off when its setting is None.
"""

from __future__ import annotations

import numpy as np

from .release_pairing import openness
from .types import MAE, Interval


def drop_incomplete_me(proposals: list[Interval], intensity: np.ndarray, motion, preset) -> list[Interval]:
    """`proposals` without the ME proposals that fail the module's rules (MaE untouched)."""
    a = np.asarray(intensity, dtype=np.float64).reshape(-1)
    m = None
    if motion is not None and preset.me_max_openness is not None:
        m = np.asarray(motion, dtype=np.float64).reshape(len(a), -1)
    kept = []
    for p in proposals:
        if p.cls != MAE:
            if preset.me_min_peak is not None and a[p.onset:p.offset + 1].max() < preset.me_min_peak:
                continue
            if m is not None and openness(m, p.onset, p.offset) > preset.me_max_openness:
                continue
        kept.append(p)
    return kept


__all__ = ["drop_incomplete_me"]

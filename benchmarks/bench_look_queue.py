"""Look queue: the cost of finding the model's low-scored candidates, and of the list after an edit.

The review queue's "Look here" group (`pfes_gui.look_queue`) lists the candidate runs of the shown
run that no proposal passed and no label or earlier look covers. Finding the candidates is
`spotting.propose` with every cut removed (`candidate_looks.run_candidates`): soft-NMS then goes
through every candidate, so it runs once per shown run, off the GUI thread. After each edit the
list is filtered again (`candidate_looks.project_looks` with the found candidates kept), and so is
the "Scan whole" list of stretches (`scan_stretches.project_stretches`): both run on the GUI thread
and must stay well under a key press.

Data: model-like outputs for 10 videos of 50 minutes at 30 fps (a low noisy floor with a bump
every 5 s on average, of random width and height), the run's proposals from the same outputs,
500 labels and 0 or 1,000 spans looked at before.

    python benchmarks/bench_look_queue.py [--minutes 50] [--no-append]
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace

import numpy as np

from pfes_core.candidate_looks import project_looks, run_candidates
from pfes_core.labels import AddLabel, LabelStore
from pfes_core.reviews import LOOKED, ReviewDecision, ReviewStore
from pfes_core.runs import Predictions
from pfes_core.scan_stretches import project_stretches
from pfes_core.spotting import PRESETS, preset_for_fps, propose
from results_md import record

N_VIDEOS, FPS = 10, 30.0


def model_like(n_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Intensity and apex scores shaped like a trained model's: floor ~0.05, bumps every ~150 frames."""
    kernel = np.exp(-0.5 * (np.arange(-15, 16) / 5.0) ** 2)
    kernel /= kernel.sum()
    a = np.clip(0.05 + 0.5 * np.convolve(rng.normal(0, 0.3, n_frames), kernel, "same"), 0, 1)
    q = np.clip(np.convolve(rng.normal(0.2, 0.3, n_frames), kernel, "same")[:, None]
                + np.zeros((1, 2)), 0, 1)
    t = np.arange(n_frames)
    for centre in rng.integers(0, n_frames, n_frames // 150):
        half = int(rng.choice([5, 7, 12, 25, 40]))
        lo, hi = max(0, centre - 3 * half), min(n_frames, centre + 3 * half)
        bump = rng.uniform(0.2, 1.0) * np.exp(-0.5 * ((t[lo:hi] - centre) / half) ** 2)
        a[lo:hi] = np.maximum(a[lo:hi], bump)
        c = 1 if half <= 7 else 0
        q[lo:hi, c] = np.maximum(q[lo:hi, c], rng.uniform(0.1, 1.0) * bump / bump.max())
    return a, q


def make_run(minutes: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * FPS)
    preset = PRESETS["default"]
    preds = {}
    for i in range(N_VIDEOS):
        a, q = model_like(n, rng)
        preds[f"v{i}"] = Predictions(a, q, propose(a, q, preset_for_fps(preset, FPS), f"v{i}", FPS))
    return preds, preset, n


def make_project(n_frames: int, n_looked: int, candidates: dict, seed: int = 1):
    rng = np.random.default_rng(seed)
    labels = LabelStore()
    videos = {f"v{i}": SimpleNamespace(fps=FPS, n_frames=n_frames) for i in range(N_VIDEOS)}
    state = SimpleNamespace(labels=labels, videos=videos)
    for k in rng.choice(N_VIDEOS * n_frames, 500, replace=False):     # 500 distinct (video, frame)
        AddLabel(f"v{k // n_frames}", int(k % n_frames), "ME", "a").apply(state)
    pool = [c for cs in candidates.values() for c in cs]
    looked = [ReviewDecision(c.video, "earlier", c.cls, c.onset, c.apex, c.offset, c.score, LOOKED)
              for c in (pool[int(k)] for k in rng.choice(len(pool), min(n_looked, len(pool)),
                                                          replace=False))]
    return SimpleNamespace(labels=labels, reviews=ReviewStore(looked), videos=videos)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=50.0, help="length of each of the 10 videos")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args(argv)
    preds, preset, n = make_run(args.minutes)
    fps = {v: FPS for v in preds}
    t = time.perf_counter()
    for v, p in preds.items():
        propose(p.intensity, p.apex, preset_for_fps(preset, FPS), v, FPS)
    t_propose = time.perf_counter() - t
    t = time.perf_counter()
    candidates = run_candidates(preds, preset, fps)
    t_find = time.perf_counter() - t
    n_cand = sum(len(c) for c in candidates.values())
    n_prop = sum(len(p.proposals) for p in preds.values())
    rows = []
    for n_looked in (0, 1000):
        project = make_project(n, n_looked, candidates)
        times, scan_times = [], []
        for i in range(args.repeats):
            AddLabel("v0", i, "MaE", "a").apply(SimpleNamespace(labels=project.labels, videos=project.videos))
            t = time.perf_counter()
            looks = project_looks(project, preds, preset, candidates)
            times.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            stretches = project_stretches(project, preds)
            scan_times.append(1000 * (time.perf_counter() - t))
        rows.append((n_looked, statistics.median(times), len(looks), statistics.median(scan_times),
                     len(stretches)))
    hours = N_VIDEOS * args.minutes / 60
    lines = [f"Finding: {n_cand} candidate runs in {hours:.1f} h of video ({n_prop} proposals) in "
             f"{t_find:.1f} s ({1000 * t_find / (N_VIDEOS * args.minutes):.0f} ms per minute of "
             f"video, off the GUI thread), {t_find / t_propose:.1f}x the time of the run's own "
             f"proposals ({t_propose:.1f} s).", "",
             "| spans looked at before | the list after an edit (ms, median) | looks listed | "
             "stretches to scan after an edit (ms, median) | stretches listed |",
             "|---:|---:|---:|---:|---:|"]
    lines += [f"| {k} | {ms:.0f} | {m} | {sms:.0f} | {sm} |" for k, ms, m, sms, sm in rows]
    table = "\n".join(lines)
    print(table)
    if not args.no_append:
        record("Look queue: finding candidates and the list after an edit", "bench_look_queue.py", argv,
               f"{N_VIDEOS} videos of {args.minutes:g} min at {FPS:g} fps, model-like outputs, 500 labels; "
               f"median of {args.repeats} edits", table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

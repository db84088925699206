"""Spotting variants on saved model outputs: the same curves, proposed under several presets.

Proposal rules change F1 without any training, so they are compared on outputs saved once
(`bench_first_training.py --save-outputs DIR`: per data set and training seed, the members' mean
intensity and apex curves of every never-labelled video, with its ground truth). The ROI motion
that release pairing reads comes from the project the outputs were made on (recorded in the file;
`FILE=PROJECT` names it for files saved without).

`--landmark-jitter S` adds Gaussian noise of S eye distances to every landmark coordinate before
the head track is made (a shakier tracker than the synthetic faces get, as on real recordings).

Besides F1 per variant (pooled over files, and per file), it counts how each variant's MaE
proposals miss: a MaE ground truth with a same-class proposal at IoU < 0.5 is a boundary miss,
and the proposal there is too short when it covers less than half the expression.

Run: python benchmarks/bench_spotting_variants.py /tmp/so/set317-s1-e15.npz /tmp/so/set317-s2-e15.npz
     --variants off,default --title "Onset and release, fresh set 317"
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from pfes_core.features import current_features_file, read_head_track, read_roi_motion
from pfes_core.head_motion import eye_distance, head_track
from pfes_core.metrics import evaluate
from pfes_core.spotting import PRESETS, interval_iou, preset_for_fps, propose
from pfes_core.types import CLASSES, MAE, Interval

DEFAULT = PRESETS["default"]
#: The default preset's ME rules before the head-motion rule and ME lengths before soft-NMS.
ME_RETURN = replace(DEFAULT, me_max_head_motion=None, lengths_first=(False, False))
#: Release pairing alone (the default preset without any of its ME rules).
PAIRING = replace(ME_RETURN, me_min_peak=None, me_max_openness=None)
#: Named presets to compare; "default" is the app's, "off" the project's rules before release
#: pairing and the ME rules.
VARIANTS = {
    "off": replace(PAIRING, release_gap=None),
    "pairing": PAIRING,
    "me_return": ME_RETURN,
    "default": DEFAULT,
    "release_th0.2": replace(PAIRING, release_threshold=0.2),
    "release_gap30": replace(PAIRING, release_gap=30),
    "mae_score0.4": replace(PAIRING, score_threshold=(0.4, DEFAULT.score_threshold[1])),
    "me_score0.4": replace(PAIRING, score_threshold=(DEFAULT.score_threshold[0], 0.4)),
    "me_peak_only": replace(ME_RETURN, me_max_openness=None),
    "me_return_only": replace(ME_RETURN, me_min_peak=None),
    "head": replace(ME_RETURN, me_max_head_motion=DEFAULT.me_max_head_motion),
    "me_lengths_first": replace(ME_RETURN, lengths_first=DEFAULT.lengths_first),
    "lengths_first": replace(DEFAULT, lengths_first=(True, True)),
    "run_evidence": replace(DEFAULT, class_evidence="run"),
    **{f"me_covers_mae{x}": replace(DEFAULT, me_covers_mae=x) for x in (0.3, 0.5, 0.7, 0.9)},
}


def load_outputs(spec: str) -> tuple[str, Path, dict]:
    """(name, project, {video: (a, q, ground truth, fps)}) of one saved file ("FILE" or "FILE=PROJECT")."""
    file, _, project = spec.partition("=")
    z = np.load(file)
    if not project:
        if "__project__" not in z.files:
            raise SystemExit(f"{file} does not say which project it was made on: pass {file}=PROJECT")
        project = str(z["__project__"])
    videos = sorted({k.split("/")[0] for k in z.files if "/" in k})
    data = {}
    for v in videos:
        truth = [Interval(v, CLASSES[1] if row[0] else MAE, int(row[1]), int(row[2]), int(row[3]))
                 for row in z[f"{v}/gt"]]
        data[v] = (z[f"{v}/a"], z[f"{v}/q"], truth, float(z[f"{v}/fps"]))
    return Path(file).stem, Path(project), data


def counts(pred: dict, truth: dict, cls: str | None = None) -> tuple[int, int, int]:
    keep = (lambda iv: True) if cls is None else (lambda iv: iv.cls == cls)
    rep = evaluate({v: [p for p in ps if keep(p)] for v, ps in pred.items()},
                   {v: [g for g in gs if keep(g)] for v, gs in truth.items()})
    return rep.overall.tp, rep.overall.fp, rep.overall.n_gt


def f1(tp: int, fp: int, n_gt: int) -> float:
    return 2 * tp / max(tp + fp + n_gt, 1)


def boundary_misses(pred: dict, truth: dict) -> tuple[int, int]:
    """(MaE ground truths whose best same-class proposal has 0 < IoU < 0.5, of which the proposal
    covers less than half the expression)."""
    misses = short = 0
    for v, gts in truth.items():
        props = [p for p in pred[v] if p.cls == MAE]
        for g in (g for g in gts if g.cls == MAE):
            best = max(props, key=lambda p: interval_iou(p, g), default=None)
            if best is not None and 0 < interval_iou(best, g) < 0.5:
                misses += 1
                short += best.length < 0.5 * g.length
    return misses, short


def jittered_head_track(project: Path, video: str, jitter: float, seed: int = 0):
    """The video's head track from its landmarks plus Gaussian noise of `jitter` eye distances."""
    import h5py

    with h5py.File(current_features_file(project, video)[0], "r") as h5:
        lm = h5["landmarks"][()].astype(np.float64)
    return head_track(lm + np.random.default_rng(seed).normal(0.0, jitter * eye_distance(lm), lm.shape))


def score_variant(preset, loaded, jitter: float = 0.0) -> dict:
    per_file, totals = [], {k: np.zeros(3, int) for k in ("all", MAE, "ME")}
    misses = short = 0

    def head(project, v):
        if preset.me_max_head_motion is None:
            return None
        return jittered_head_track(project, v, jitter) if jitter else read_head_track(project, v)

    for name, project, data in loaded:
        pred = {v: propose(a, q, preset_for_fps(preset, fps), v, fps,
                           read_roi_motion(project, v) if preset.release_gap or preset.me_max_openness else None,
                           head(project, v))
                for v, (a, q, _, fps) in data.items()}
        truth = {v: t for v, (_, _, t, _) in data.items()}
        row = {}
        for key, cls in (("all", None), (MAE, MAE), ("ME", "ME")):
            c = np.array(counts(pred, truth, cls))
            totals[key] += c
            row[key] = f1(*c)
        m, s = boundary_misses(pred, truth)
        misses, short = misses + m, short + s
        per_file.append((name, row))
    return {"f1": {k: f1(*c) for k, c in totals.items()}, "tp_fp_gt": totals["all"].tolist(),
            "per_file": per_file, "boundary_misses": misses, "short": short}


def table(results: dict) -> str:
    files = [n for n, _ in next(iter(results.values()))["per_file"]]
    lines = ["| variant | F1 | MaE F1 | ME F1 | TP / FP / GT | MaE boundary misses (proposal < half) | "
             + " | ".join(files) + " |", "|---|---:|---:|---:|---|---|" + "---:|" * len(files)]
    for name, r in results.items():
        tp, fp, gt = r["tp_fp_gt"]
        lines.append(f"| {name} | {r['f1']['all']:.3f} | {r['f1'][MAE]:.3f} | {r['f1']['ME']:.3f} | {tp} / {fp} / {gt} "
                     f"| {r['boundary_misses']} ({r['short']}) | "
                     + " | ".join(f"{row['all']:.3f}" for _, row in r["per_file"]) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outputs", nargs="+", metavar="FILE[=PROJECT]", help="saved outputs (bench_first_training --save-outputs)")
    ap.add_argument("--variants", default="off,default", help=f"comma-separated, of: {', '.join(VARIANTS)}")
    ap.add_argument("--title", default="Spotting variants on saved outputs")
    ap.add_argument("--landmark-jitter", type=float, default=0.0, metavar="S",
                    help="add noise of S eye distances to the landmarks the head track is made from")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args(argv)
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {', '.join(unknown)} (choose from {', '.join(VARIANTS)})")
    loaded = [load_outputs(spec) for spec in args.outputs]
    results = {n: score_variant(VARIANTS[n], loaded, args.landmark_jitter) for n in names}
    text = table(results)
    print(text)
    if not args.no_append:
        from results_md import append_section, machine_line

        command = "python benchmarks/bench_spotting_variants.py " + " ".join(sys.argv[1:] if argv is None else argv)
        append_section(args.title, machine_line("") + f"- command: `{command}`\n\n{text}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Accuracy benchmark: leave-one-subject-out F1 (MaE, ME, overall) on the synthetic benchmark.

Compares (a) the non-learned motion baseline, (b) hard labels only, (c) GIM without IAC,
(d) full GIM in faithful mode, (e) full GIM in default mode, all through the same proposal
pipeline (`spotting.propose`, preset "default") and MEGC counting pooled over every held-out
video of every fold.

Two figures per learned method, kept apart (METHOD.md section 6):
- fixed-epoch: every fold's model after the last epoch (the honest one);
- per-subject-best-epoch: for each held-out subject the epoch with that subject's best overall
  F1, chosen on its own test videos (the reference's optimistic choice). Cheap here because the
  held-out videos are predicted after every epoch anyway.

Run: python benchmarks/bench_accuracy.py [--subjects 4 --videos 2 --seconds 60 --epochs 16]
It builds a demo-style project (synthetic videos, features) in a temp folder, or reuses --project.
Appends a table to benchmarks/RESULTS.md unless --no-append.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from pfes_core.baseline import baseline_predict
from pfes_core.metrics import BEST_EPOCH, FIXED_EPOCH, MetricsReport, evaluate, pool
from pfes_core.spotting import preset_for_fps, preset_from_settings, propose
from pfes_core.types import CLASSES

METHODS = {
    "b_hard": ("hard labels only", {"ablation": "hard", "mode": "default"}),
    "c_gim_no_iac": ("GIM without IAC", {"ablation": "gim-no-iac", "mode": "default"}),
    "d_gim_faithful": ("full GIM, faithful mode", {"ablation": "full", "mode": "faithful"}),
    "e_gim_default": ("full GIM, default mode", {"ablation": "full", "mode": "default"}),
}


def build_project(args, workdir: Path) -> Path:
    from pfes_core.demo import build_demo_project

    target = Path(args.project) if args.project else workdir / "bench.pfes"
    if (target / "project.h5").exists():
        print(f"reusing project {target}", flush=True)
        return target
    t0 = time.monotonic()
    root = build_demo_project(target, seed=args.seed, subjects=args.subjects,
                              videos_per_subject=args.videos, seconds=args.seconds, jobs=args.jobs)
    print(f"built synthetic project {root} in {time.monotonic() - t0:.0f} s", flush=True)
    return root


def load(root: Path):
    """VideoData (features + points), ROI vectors, fps and reference per video."""
    from pfes_core.features import load_features
    from pfes_core.project import Project
    from pfes_core.training import load_project_videos

    videos, _, _ = load_project_videos(root)
    rois = {}
    with Project.open(root, readonly=True) as project:
        truth = {v: list(project.reference.get(v, [])) for v in project.videos}
        for v in videos:
            rois[v.video_id] = np.asarray(load_features(project, v.video_id).roi_vectors)
    return videos, rois, truth


def run_baseline(videos, rois, truth, preset) -> MetricsReport:
    pred = {}
    for v in videos:
        vp = preset_for_fps(preset, v.fps)
        pred[v.video_id] = baseline_predict(rois[v.video_id], vp, v.video_id, v.fps)[2]
    return evaluate(pred, truth, videos=[v.video_id for v in videos], label="baseline")


def run_method(videos, truth, preset, overrides: dict, epochs: int, seed: int, label: str,
               variant=None):
    """LOSO training; returns (fixed-epoch report, best-epoch report, per-epoch pooled F1s, seconds,
    config, fixed-epoch report under the `variant` spotting preset or None)."""
    from pfes_core.inference import predict_video
    from pfes_core.training import TrainConfig, train_on_arrays

    cfg = TrainConfig.from_preset("cpu", device="cpu", seed=seed, **overrides)
    if epochs:
        cfg = replace(cfg, epochs=epochs)
    subjects = sorted({v.subject for v in videos if v.points})
    fixed, best, fixed_variant = [], [], []
    per_epoch_counts: dict[int, list[MetricsReport]] = {}
    t0 = time.monotonic()
    for s in subjects:
        train_v = [v for v in videos if v.subject != s and v.points]
        test_v = [v for v in videos if v.subject == s]
        ids = [v.video_id for v in test_v]
        epoch_reports: list[MetricsReport] = []

        def on_epoch_end(state, _test=test_v, _ids=ids, _reports=epoch_reports):
            pred = {}
            for v in _test:
                a, q = predict_video(state.model, v.model_input, cfg.predict_chunk, "cpu")
                pred[v.video_id] = propose(a, q, preset_for_fps(preset, v.fps), v.video_id, v.fps)
            rep = evaluate(pred, truth, videos=_ids)
            _reports.append(rep)
            per_epoch_counts.setdefault(state.epoch, []).append(rep)

        state = train_on_arrays(train_v, cfg, None, state=None, device="cpu",
                                on_epoch_end=on_epoch_end, fold=s)
        fixed.append(epoch_reports[-1])
        if variant is not None:
            pred = {}
            for v in test_v:
                a, q = predict_video(state.model, v.model_input, cfg.predict_chunk, "cpu")
                pred[v.video_id] = propose(a, q, preset_for_fps(variant, v.fps), v.video_id, v.fps)
            fixed_variant.append(evaluate(pred, truth, videos=ids))
        k = max(range(len(epoch_reports)), key=lambda i: (epoch_reports[i].overall.f1, i))
        best.append(epoch_reports[k])
        print(f"  {label}: fold {s} fixed F1 {epoch_reports[-1].overall.f1:.3f}, "
              f"best {epoch_reports[k].overall.f1:.3f} at epoch {k + 1} "
              f"({time.monotonic() - t0:.0f} s)", flush=True)
    curve = {e: pool(r).overall.f1 for e, r in sorted(per_epoch_counts.items())}
    fixed_rep = pool(fixed, label=label)
    best_rep = pool(best, selection=BEST_EPOCH, label=label)
    variant_rep = pool(fixed_variant, label=label) if variant is not None else None
    return fixed_rep, best_rep, curve, time.monotonic() - t0, cfg, variant_rep


def git_state() -> str:
    """Commit id, plus a note when tracked files differ from it (others' work in progress)."""
    import subprocess

    here = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--name-only", "HEAD", "--", "pfes_core"], cwd=here,
                               text=True, capture_output=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (f" (modified: {', '.join(dirty)})" if dirty else "")


def row(name: str, rep: MetricsReport, figure: str | None = None) -> str:
    c = rep.classes
    o = rep.overall
    return (f"| {name} | {figure or rep.selection} | {c['MaE'].f1:.3f} | {c['ME'].f1:.3f} | {o.f1:.3f} "
            f"| {o.precision:.3f} | {o.recall:.3f} | {o.tp}/{o.fp}/{o.fn} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", help="build the synthetic project here (kept), or reuse it if it exists")
    ap.add_argument("--subjects", type=int, default=4)
    ap.add_argument("--videos", type=int, default=2, help="videos per subject")
    ap.add_argument("--use-subjects", type=int, default=0,
                    help="evaluate only the first N subjects of the project (0: all); saves time")
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds per video")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=0, help="override the cpu preset's epochs")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma list of " + ",".join(METHODS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the figures as JSON here")
    ap.add_argument("--no-append", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    t_all = time.monotonic()
    preset = preset_from_settings("default")
    # Same trained models, spotting with one class per run (a spotting-only variant, free here).
    variant = preset_from_settings("default", {"exclusive_classes": True})
    var_rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="pfes-bench-") as tmp:
        root = build_project(args, Path(tmp))
        videos, rois, truth = load(root)
        if args.use_subjects:
            keep = sorted({v.subject for v in videos})[:args.use_subjects]
            videos = [v for v in videos if v.subject in keep]
        n_gt = {c: sum(1 for v in videos for iv in truth[v.video_id] if iv.cls == c) for c in CLASSES}
        print(f"{len(videos)} videos, {len({v.subject for v in videos})} subjects, "
              f"{sum(len(v.model_input) for v in videos)} frames, GT {n_gt}", flush=True)
        rows: list[tuple[str, str]] = []
        out = {"args": vars(args), "methods": {}}
        base = run_baseline(videos, rois, truth, preset)
        rows.append(("a", row("(a) motion baseline (non-learned)", base, "no training")))
        out["methods"]["a_baseline"] = base.to_dict(per_video=False)
        var_rows.append(("a", row("(a) motion baseline (non-learned)",
                                  run_baseline(videos, rois, truth, variant), "no training")))
        epochs_used = None
        for key in [m for m in args.methods.split(",") if m]:
            title, overrides = METHODS[key]
            fixed, best, curve, secs, cfg, var = run_method(videos, truth, preset, overrides,
                                                            args.epochs, args.seed, title, variant)
            var_rows.append((key, row(f"({key[0]}) {title}", var)))
            epochs_used = cfg.epochs
            name = f"({key[0]}) {title}"
            rows.append((key, row(name, fixed)))
            rows.append((key, row(name, best)))
            out["methods"][key] = {FIXED_EPOCH: fixed.to_dict(per_video=False),
                                   "exclusive_classes_" + FIXED_EPOCH: var.to_dict(per_video=False),
                                   BEST_EPOCH: best.to_dict(per_video=False),
                                   "pooled_f1_per_epoch": curve, "seconds": round(secs, 1)}
            if args.json:  # written after every method, so a cut-short run still leaves figures
                Path(args.json).write_text(json.dumps(out, indent=1))
            print(f"{title}: fixed-epoch F1 {fixed.overall.f1:.3f} "
                  f"(MaE {fixed.classes['MaE'].f1:.3f}, ME {fixed.classes['ME'].f1:.3f}) in {secs:.0f} s",
                  flush=True)
    minutes = (time.monotonic() - t_all) / 60
    cmd = "python benchmarks/bench_accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:])
    head = ("| method | figure | MaE F1 | ME F1 | overall F1 | precision | recall | TP/FP/FN |\n"
            "|---|---|---|---|---|---|---|---|")
    table = head + "\n" + "\n".join(r for _, r in sorted(rows, key=lambda kr: kr[0][0]))
    table += ("\n\nSame fixed-epoch models, spotting preset 'default' with exclusive_classes=true "
              "(one class per run):\n\n" + head + "\n"
              + "\n".join(r for _, r in sorted(var_rows, key=lambda kr: kr[0][0])))
    print("\n" + table)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    if not args.no_append:
        info = (f"\n### Accuracy, leave-one-subject-out on synthetic data "
                f"({datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')})\n\n"
                f"- machine: {platform.machine()}, {platform.system()} {platform.release()}, "
                f"python {platform.python_version()}, torch {torch.__version__}, "
                f"{torch.get_num_threads()} threads, CPU only\n"
                f"- command: `{cmd.strip()}` at commit {git_state()}\n"
                f"- data: {len(videos)} videos x {args.seconds:.0f} s at 25 fps, "
                f"{len({v.subject for v in videos})} subjects, seed {args.seed}, GT {n_gt}; "
                f"cpu training preset, {epochs_used} epochs; spotting preset 'default'; "
                f"{minutes:.1f} min in all\n"
                f"- fixed-epoch = last epoch of every fold (honest); per-subject-best-epoch = "
                f"epoch chosen on the held-out subject's own score (optimistic)\n\n{table}\n")
        path = Path(__file__).with_name("RESULTS.md")
        with open(path, "a", encoding="utf-8") as fh:
            if path.stat().st_size == 0:
                fh.write("# Benchmark results\n")
            fh.write(info)
        print(f"appended to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`pfes spot`, `pfes evaluate`, `pfes export`: from a trained run to scored intervals and figures.

- spot: re-predicts every video that has features with the run's checkpoint(s) (a
  leave-one-subject-out run uses each subject's own fold model, so a video is never scored by a
  model that trained on it), turns outputs into proposals with the project's spotting preset
  (``settings["spotting"]``: ``{"preset": NAME, <field>: value, ...}``, `--preset` wins over the
  name) and rewrites ``runs/<run>/predictions.h5``.
- evaluate: MEGC metrics of the run's proposals against ``project.reference``. Only videos with
  reference intervals are scored unless ``--include-unreferenced`` (then a video without any
  reference counts as expression-free, so every proposal there is a false positive).
- export: the run's proposals with review decisions applied: a proposal rejected in review is
  dropped, an adjusted one is written with the reviewer's boundaries, accepted and unreviewed ones
  as proposed; ``--reviewed-only`` keeps accepted and adjusted ones only.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..errors import FeatureError, PfesError
from ..progress import ProgressReporter
from ..types import Interval


def _project_root(path) -> Path:
    """The project folder; a clear error when there is no project (before looking for runs)."""
    from ..errors import ProjectError
    from ..project import H5_NAME, backup_path, project_root

    root = project_root(path)
    if not (root / H5_NAME).exists() and not backup_path(root, 1).exists():
        raise ProjectError(f"no project at {root} (expected {H5_NAME}; create one with `pfes init`)")
    return root


def _pick_run(root: Path, run_id: str | None):
    """RunInfo of `run_id`, or of the latest finished run; a run that is not finished (running,
    cancelled, failed) is refused: its outputs are partial or from an older model."""
    from .. import runs

    infos = runs.list_runs(root)
    if run_id is None:
        done = [r for r in infos if r.status == "done"]
        if not done:
            raise PfesError("no finished training run in this project (run `pfes train` first)")
        return done[-1]
    for r in infos:
        if r.run_id == run_id:
            if r.status != "done":
                raise PfesError(f"run {r.run_id} is {r.status}, not finished (resume it with "
                                f"`pfes train --resume {r.run_id}`, or choose a finished run)")
            return r
    raise PfesError(f"no run {run_id!r} in this project (see `pfes runs`)")


def _frames_by_video(project) -> dict[str, int]:
    """Reader frames (after the step) of each registered video: what predictions must cover."""
    return {v: (int(r.n_frames) + max(int(r.step or 1), 1) - 1) // max(int(r.step or 1), 1)
            for v, r in project.videos.items()}


def spotting_preset(settings: dict, name: str | None = None):
    """The project's spotting preset (see `pfes_core.spotting.project_preset`)."""
    from ..spotting import project_preset

    return project_preset(settings, name)


def _effective_fps(record) -> float:
    return float(record.fps) / max(int(record.step or 1), 1)


def spot_project(project_path, run_id: str | None = None, preset_name: str | None = None,
                 reporter: ProgressReporter | None = None) -> tuple[str, dict]:
    """Predict + propose for every video with features; writes the run's predictions.h5.

    Returns (run_id, {video: runs.Predictions}).
    """
    from .. import runs
    from ..features import load_features
    from ..inference import pick_device, predict_video
    from ..project import Project

    reporter = reporter or ProgressReporter("none")
    root = _project_root(project_path)
    info = _pick_run(root, run_id)
    loso = bool(info.config.get("loso"))
    device = pick_device("auto")
    outputs, fps, fold_of = {}, {}, {}
    models: dict = {}
    with Project.open(root, readonly=True) as project:
        preset = spotting_preset(project.settings, preset_name)
        todo = list(project.videos.values())
        reporter.emit("spot", step=0, total=len(todo), run_id=info.run_id, device=device.type)
        skipped = []
        for k, rec in enumerate(todo, 1):
            feats = load_features(project, rec.id)
            fold = (rec.subject or rec.id) if loso else None
            ckpt = runs.checkpoint_path(info.path, fold) if fold is not None \
                else Path(info.path) / "checkpoint.pt"
            if feats is None or not ckpt.exists():
                skipped.append(rec.id)
                reporter.emit("spot", step=k, total=len(todo), video=rec.id,
                              message="skipped: " + ("no features" if feats is None
                                                     else f"no fold model for subject {fold}"))
                continue
            if ckpt not in models:
                models[ckpt] = runs.load_model(ckpt, device)
            outputs[rec.id] = predict_video(models[ckpt], feats.model_input, device=device)
            fps[rec.id] = _effective_fps(rec)
            fold_of[rec.id] = fold
            reporter.emit("spot", step=k, total=len(todo), video=rec.id)
    if not outputs:
        raise FeatureError("no video has features and a model in this run (run `pfes extract`)")
    preds = runs.write_predictions(Path(info.path) / "predictions.h5", outputs, fps, preset, fold_of)
    n = sum(len(p.proposals) for p in preds.values())
    reporter.emit("done", run_id=info.run_id, videos=len(preds), proposals=n, skipped=skipped,
                  message=f"{n} proposals in {len(preds)} videos (run {info.run_id})")
    return info.run_id, preds


def _cmd_spot(args) -> int:
    reporter = ProgressReporter(args.progress)
    try:
        run_id, preds = spot_project(args.project, args.run, args.preset, reporter)
    except PfesError as exc:
        if args.progress == "jsonl":
            reporter.emit("error", message=str(exc))
        raise
    finally:
        reporter.close()
    if args.progress != "jsonl":
        n = sum(len(p.proposals) for p in preds.values())
        print(f"run {run_id}: {n} proposals in {len(preds)} videos")
    return 0


def evaluate_run(project_path, run_id: str | None = None, include_unreferenced: bool = False):
    """(run_id, MetricsReport) of a run's saved proposals against the project's reference."""
    from .. import runs
    from ..metrics import FIXED_EPOCH, evaluate
    from ..project import Project

    root = _project_root(project_path)
    info = _pick_run(root, run_id)
    with Project.open(root, readonly=True) as project:
        truth = {v: list(ivs) for v, ivs in project.reference.items() if ivs}
        known = list(project.videos)
        frames = _frames_by_video(project)
    preds = runs.read_predictions(Path(info.path) / "predictions.h5", frames)
    if not truth:
        raise PfesError("the project has no reference intervals to evaluate against "
                        "(import ground truth first)")
    if include_unreferenced:
        videos = [v for v in known if v in preds or v in truth]
    else:
        videos = [v for v in known if v in truth]
    pred = {v: preds[v].proposals for v in videos if v in preds}
    loso = bool(info.config.get("loso"))
    epochs = info.epochs_done or info.config.get("epochs")
    label = (f"run {info.run_id}, final epoch {epochs}, "
             + ("leave-one-subject-out (held-out videos)" if loso
                else "single model (evaluated videos may be training videos)"))
    return info.run_id, evaluate(pred, truth, videos=videos, selection=FIXED_EPOCH, label=label)


def _cmd_evaluate(args) -> int:
    from ..metrics import format_table

    run_id, report = evaluate_run(args.project, args.run, args.include_unreferenced)
    if args.json:
        out = report.to_dict(per_video=True)
        out["run_id"] = run_id
        json.dump(out, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(format_table(report))
        worst = sorted(report.per_video.values(),
                       key=lambda vr: (-(len(vr.false_positives) + len(vr.missed)), vr.video))[:10]
        print(f"\n{'video':<24}{'GT':>5}{'TP':>5}{'FP':>5}{'FN':>5}{'F1':>8}")
        for vr in worst:
            o = vr.overall
            print(f"{vr.video:<24}{o.n_gt:>5}{o.tp:>5}{o.fp:>5}{o.fn:>5}{o.f1:>8.4f}")
    return 0


def reviewed_intervals(proposals: list[Interval], reviews, run_id: str,
                       reviewed_only: bool = False) -> tuple[list[Interval], dict]:
    """Apply review decisions (see module docstring). Returns (intervals, counts of decisions)."""
    out: list[Interval] = []
    counts = {"accepted": 0, "rejected": 0, "adjusted": 0, "unreviewed": 0}
    for p in proposals:
        d = reviews.get(p.video, run_id, p.cls, p.onset, p.offset) if reviews is not None else None
        status = d.status if d is not None else None
        if status == "rejected":
            counts["rejected"] += 1
            continue
        if status == "adjusted":
            counts["adjusted"] += 1
            out.append(d.interval())
        elif status == "accepted":
            counts["accepted"] += 1
            out.append(p)
        else:
            counts["unreviewed"] += 1
            if not reviewed_only:
                out.append(p)
    return out, counts


def export_run(project_path, out_file, fmt: str, run_id: str | None = None,
               reviewed_only: bool = False) -> tuple[list[Path], int]:
    """Write a run's (reviewed) intervals; returns (files written, number of intervals)."""
    from .. import __version__, runs
    from ..exports import write_intervals
    from ..project import Project

    root = _project_root(project_path)
    info = _pick_run(root, run_id)
    with Project.open(root, readonly=True) as project:
        preds = runs.read_predictions(Path(info.path) / "predictions.h5", _frames_by_video(project))
        proposals = [iv for v in project.videos if v in preds for iv in preds[v].proposals]
        intervals, counts = reviewed_intervals(proposals, project.reviews, info.run_id, reviewed_only)
        fps = {v: _effective_fps(r) for v, r in project.videos.items()}
        media = {v: project.video_path(v).as_uri() for v in project.videos
                 if project.video_path(v).is_absolute()}
    prov = {"run_id": info.run_id, "label_snapshot": info.label_snapshot.get("sha256") or "",
            "app_version": __version__, "project": str(root),
            "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "reviews": counts, "reviewed_only": bool(reviewed_only),
            "frames": "project frame indices after subsampling step, onset/offset inclusive"}
    if fmt == "eaf":
        prov["media"] = media
    files = write_intervals(out_file, intervals, fmt, prov, fps=fps)
    return files, len(intervals)


def _cmd_export(args) -> int:
    files, n = export_run(args.project, args.out_file, args.format, args.run, args.reviewed_only)
    print(f"wrote {n} intervals to {', '.join(str(f) for f in files)}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("spot", help="spot intervals in every video with a trained run",
                              description="Predict every video that has features with a run's "
                                          "model and write runs/<run>/predictions.h5.")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--run", default=None, help="run id (default: latest finished run)")
    p.add_argument("--preset", default=None,
                   help="spotting preset: default, casme2, samm_lv, casme3 (default: project "
                        "setting, else 'default')")
    p.add_argument("--progress", default="bar", choices=("bar", "jsonl", "none"))
    p.set_defaults(func=_cmd_spot)

    p = subparsers.add_parser("evaluate", help="MEGC F1 of a run against the project's reference",
                              description="Score a run's proposals against the project's "
                                          "reference intervals (IoU >= 0.5, same class).")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--run", default=None, help="run id (default: latest finished run)")
    p.add_argument("--json", action="store_true", help="machine-readable output with per-video lists")
    p.add_argument("--include-unreferenced", action="store_true",
                   help="also score videos without reference intervals (as expression-free)")
    p.set_defaults(func=_cmd_evaluate)

    p = subparsers.add_parser("export", help="write spotted intervals (csv, json, eaf, megc)",
                              description="Export a run's intervals with review decisions applied.")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("out_file", metavar="OUT_FILE")
    p.add_argument("--format", required=True, choices=("csv", "json", "eaf", "megc"))
    p.add_argument("--run", default=None, help="run id (default: latest finished run)")
    p.add_argument("--reviewed-only", action="store_true",
                   help="only proposals accepted or adjusted in review")
    p.set_defaults(func=_cmd_export)

"""`pfes spot`, `pfes evaluate`, `pfes export`, `pfes looks`: from a trained run to scored intervals.

- spot: re-predicts every video that has features with the run's checkpoint(s) (a
  leave-one-subject-out run uses each subject's own fold model, so a video is never scored by a
  model that trained on it), turns outputs into proposals with the project's spotting preset
  (``settings["spotting"]``: ``{"preset": NAME, <field>: value, ...}``, `--spot-preset` wins over the
  name) and rewrites ``runs/<run>/predictions.h5``; with ``--videos``/``--shard K/N`` only those
  videos, merged into the file with the others kept. ``--engine ray``: one Ray task per video.
- evaluate: MEGC metrics of the run's proposals against ``project.reference``. Only videos with
  reference intervals are scored unless ``--include-unreferenced`` (then a video without any
  reference counts as expression-free, so every proposal there is a false positive).
- export: the run's proposals with review decisions applied: a proposal rejected in review is
  dropped, an adjusted one is written with the reviewer's boundaries, accepted and unreviewed ones
  as proposed; ``--reviewed-only`` keeps accepted and adjusted ones only. A proposal not
  reviewed in this run follows the annotator's decision on the same expression in an earlier run
  (``ReviewStore.earlier_decision``): a retrained model does not bring back a rejected expression.
  A rejected proposal with a label of the other class inside was accepted as the other class (the
  desk's C): it is written with that class over the proposal's frames, review "accepted".
- looks: the run's low-scored candidate runs worth a look (`pfes_core.candidate_looks`), the list
  the review queue's "Look here" shows, for a server or a shared annotation plan.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

from ..engine import add_engine_options, ray_engine_for
from ..errors import FeatureError, PfesError
from ..progress import ProgressReporter
from ..reviews import as_other_class, other_class_labels
from .options import add_deprecated_alias
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


def _run_predictions(info, project) -> dict:
    """The run's predictions.h5, checked against the project's videos (`_frames_by_video`)."""
    from .. import runs

    return runs.read_predictions(Path(info.path) / "predictions.h5", _frames_by_video(project))


def spotting_preset(settings: dict, name: str | None = None):
    """The project's spotting preset (see `pfes_core.spotting.project_preset`)."""
    from ..spotting import project_preset

    return project_preset(settings, name)


def _effective_fps(record) -> float:
    return float(record.fps) / max(int(record.step or 1), 1)


def spot_project(project_path, run_id: str | None = None, preset_name: str | None = None,
                 reporter: ProgressReporter | None = None, videos: list[str] | None = None,
                 shard: str | None = None, engine=None) -> tuple[str, dict]:
    """Predict + propose for every video with features (or `videos`, or share `shard` 'K/N' of
    them: the run's other predictions are kept, see `engine.shards.update_predictions`); writes
    the run's predictions.h5. `engine`: `engine.ray_engine` to predict as Ray tasks.

    Returns (run_id, {video: runs.Predictions}) for the videos predicted now.
    """
    from .. import runs
    from ..engine.shards import select_videos, update_predictions
    from ..feature_stream import open_features
    from ..features import read_head_track, read_roi_motion
    from ..inference import pick_device, predict_members
    from ..project import Project
    from ..spotting import for_mode      # faithful runs propose with the published rules

    reporter = reporter or ProgressReporter("none")
    root = _project_root(project_path)
    info = _pick_run(root, run_id)
    loso = bool(info.config.get("loso"))
    device = pick_device("auto")
    outputs, fps, fold_of = {}, {}, {}
    models: dict = {}
    with Project.open(root, readonly=True) as project:
        preset = for_mode(spotting_preset(project.settings, preset_name), info.config.get("mode"))
        partial = bool(videos) or shard is not None
        todo = [project.videos[v] for v in select_videos(
            {v: int(r.n_frames or 0) for v, r in project.videos.items()}, videos, shard)]
        all_fps = {v: _effective_fps(r) for v, r in project.videos.items()}
        reporter.emit("spot", step=0, total=len(todo), run_id=info.run_id, device=device.type)
        skipped, jobs, counter = [], [], [0]

        def skip(vid: str, why: str) -> None:
            skipped.append(vid)
            counter[0] += 1
            reporter.emit("spot", step=counter[0], total=len(todo), video=vid, message="skipped: " + why)

        def predicted(vid: str, result) -> None:
            if result is None:
                return skip(vid, "no features")
            outputs[vid] = result
            counter[0] += 1
            reporter.emit("spot", step=counter[0], total=len(todo), video=vid)

        for rec in todo:
            fold = (rec.subject or rec.id) if loso else None
            ckpt = runs.checkpoint_path(info.path, fold) if fold is not None \
                else Path(info.path) / "checkpoint.pt"
            fps[rec.id], fold_of[rec.id] = _effective_fps(rec), fold
            if not ckpt.exists():
                skip(rec.id, f"no fold model for subject {fold}")
            elif engine is not None:
                jobs.append((rec.id, ckpt))
            else:
                feats = open_features(project, rec.id)      # read in chunks (feature_stream)
                if feats is not None and ckpt not in models:
                    models[ckpt] = runs.load_members(ckpt, device)
                predicted(rec.id, None if feats is None else predict_members(models[ckpt], feats, device=device))
    if jobs:
        failures = engine.predict(str(root), jobs, predicted)
        if failures:
            raise PfesError(f"{len(failures)} of {len(jobs)} videos failed: "
                            + "; ".join(f"{v}: {m}" for v, m in failures.items()))
    if not outputs:
        if not todo:
            raise PfesError("no videos to spot in this selection (an empty --shard share)")
        raise FeatureError("no video has features and a model in this run (run `pfes extract`)")
    fold_of = {v: f for v, f in fold_of.items() if v in outputs}
    path = Path(info.path) / "predictions.h5"
    motion = functools.partial(read_roi_motion, root)
    head = functools.partial(read_head_track, root)
    if partial:
        preds = update_predictions(path, outputs, all_fps, preset, fold_of, motion=motion, head=head)
        preds = {v: preds[v] for v in outputs}
    else:
        preds = runs.write_predictions(path, outputs, fps, preset, fold_of, motion=motion, head=head)
    n = sum(len(p.proposals) for p in preds.values())
    reporter.emit("done", run_id=info.run_id, videos=len(preds), proposals=n, skipped=skipped,
                  message=f"{n} proposals in {len(preds)} videos (run {info.run_id})")
    return info.run_id, preds


def _cmd_spot(args) -> int:
    reporter = ProgressReporter(args.progress)
    try:
        engine = ray_engine_for(args)
        run_id, preds = spot_project(args.project, args.run, args.spot_preset, reporter,
                                     videos=args.videos, shard=args.shard, engine=engine)
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


def evaluate_run(project_path, run_id: str | None = None, include_unreferenced: bool = False,
                 protocol: str = "megc"):
    """(run_id, MetricsReport) of a run's saved proposals against the project's reference.
    ``protocol``: "megc" or "reference" (`pfes_core.metrics`; subjects group the videos)."""
    from .. import runs
    from ..metrics import FIXED_EPOCH, evaluate
    from ..project import Project

    root = _project_root(project_path)
    info = _pick_run(root, run_id)
    with Project.open(root, readonly=True) as project:
        truth = {v: list(ivs) for v, ivs in project.reference.items() if ivs}
        known = list(project.videos)
        frames = _frames_by_video(project)
        subject_of = {v: (r.subject or v) for v, r in project.videos.items()}
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
    return info.run_id, evaluate(pred, truth, videos=videos, selection=FIXED_EPOCH, label=label,
                                 protocol=protocol, groups=subject_of)


def _cmd_evaluate(args) -> int:
    from ..metrics import format_table

    engine = ray_engine_for(args)
    if engine is not None:
        run_id, report = engine.evaluate(args.project, args.run, args.include_unreferenced, args.protocol)
    else:
        run_id, report = evaluate_run(args.project, args.run, args.include_unreferenced, args.protocol)
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


def _review_rows(proposals: list[Interval], reviews, run_id: str, reviewed_only: bool = False,
                 labels=None):
    """(intervals, their review states, counts of decisions); the rule of the module docstring.
    `labels` (the project's LabelStore) tells a rejection from an accept as the other class."""
    out: list[Interval] = []
    states: list[str] = []
    counts = {"accepted": 0, "rejected": 0, "adjusted": 0, "unreviewed": 0, "from_earlier_runs": 0,
              "as_other_class": 0}
    for p in proposals:
        d = reviews.get(p.video, run_id, p.cls, p.onset, p.offset) if reviews is not None else None
        if d is None and reviews is not None:
            d = reviews.earlier_decision(run_id, p)
            counts["from_earlier_runs"] += d is not None
        # a "looked" decision marks an empty candidate span, never a proposal (reviews.LOOKED)
        status = d.status if d is not None and d.status != "looked" else "unreviewed"
        counts[status] += 1
        if status == "rejected" and labels is not None:
            frames = [lab.frame for lab in other_class_labels(labels, p)]
            if frames:
                counts["as_other_class"] += 1
                flipped = as_other_class(p)
                # a proposal of that class on the same label is that expression already
                if not any(q.video == p.video and q.cls == flipped.cls and q.onset <= f <= q.offset
                           for q in proposals for f in frames):
                    out.append(flipped)
                    states.append("accepted")
            continue
        if status == "rejected" or (status == "unreviewed" and reviewed_only):
            continue
        out.append(d.interval() if status == "adjusted" else p)
        states.append(status)
    return out, states, counts


def reviewed_intervals(proposals: list[Interval], reviews, run_id: str,
                       reviewed_only: bool = False) -> tuple[list[Interval], dict]:
    """Apply review decisions (see module docstring). Returns (intervals, counts of decisions)."""
    out, _states, counts = _review_rows(proposals, reviews, run_id, reviewed_only)
    return out, counts


def export_run_report(project_path, out_file, fmt: str, run_id: str | None = None,
                      reviewed_only: bool = False, overwrite: bool = True) -> dict:
    """Write a run's (reviewed) intervals; returns what was written, as `pfes export --json`
    prints it: ``{"files", "format", "run_id", "intervals", "reviews"}``."""
    from .. import __version__
    from ..exports import write_intervals
    from ..project import Project

    root = _project_root(project_path)
    info = _pick_run(root, run_id)
    with Project.open(root, readonly=True) as project:
        preds = _run_predictions(info, project)
        proposals = [iv for v in project.videos if v in preds for iv in preds[v].proposals]
        intervals, states, counts = _review_rows(proposals, project.reviews, info.run_id,
                                                 reviewed_only, project.labels)
        fps = {v: _effective_fps(r) for v, r in project.videos.items()}
        subjects = {v: r.subject for v, r in project.videos.items()}
        media = {v: project.video_path(v) for v in project.videos
                 if not project.video_path(v).is_dir()}
        points = project.labels.all() if fmt == "eaf" else None
    prov = {"run_id": info.run_id, "label_snapshot": info.label_snapshot.get("sha256") or "",
            "app_version": __version__, "project": str(root),
            "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "reviews": counts, "reviewed_only": bool(reviewed_only),
            "frames": "project frame indices after subsampling step, onset/offset inclusive"}
    files = write_intervals(out_file, intervals, fmt, prov, fps=fps, review=states,
                            subjects=subjects, points=points, media=media, overwrite=overwrite)
    return {"files": [str(f) for f in files], "format": fmt, "run_id": info.run_id,
            "intervals": len(intervals), "reviews": counts}


def export_run(project_path, out_file, fmt: str, run_id: str | None = None,
               reviewed_only: bool = False, overwrite: bool = True) -> tuple[list[Path], int]:
    """Write a run's (reviewed) intervals; returns (files written, number of intervals)."""
    report = export_run_report(project_path, out_file, fmt, run_id, reviewed_only, overwrite)
    return [Path(f) for f in report["files"]], report["intervals"]


def _cmd_export(args) -> int:
    report = export_run_report(args.project, args.out_file, args.format, args.run,
                               args.reviewed_only, overwrite=args.force)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"wrote {report['intervals']} intervals to {', '.join(report['files'])}")
    return 0


def list_places(project_path, run_id: str | None = None, scan: bool = False) -> tuple[str, list[Interval]]:
    """(run id, the places the review queue offers for a run): its low-scored candidates ("Look
    here"), or with `scan` the stretches of its videos left to scan whole ("Scan whole")."""
    from ..candidate_looks import project_looks
    from ..project import Project
    from ..scan_stretches import project_stretches

    root = _project_root(project_path)
    info = _pick_run(root, run_id)
    with Project.open(root, readonly=True) as project:
        predictions = _run_predictions(info, project)
        return info.run_id, (project_stretches(project, predictions) if scan else
                             project_looks(project, predictions, spotting_preset(project.settings)))


#: `pfes looks` columns: (JSON key, header, text cell) for candidates and for stretches.
_LOOK_COLUMNS = (("video", "video", lambda c: f"{c.video:<24}"), ("onset", "onset", lambda c: f"{c.onset:>7}"),
                 ("apex", "apex", lambda c: f"{c.apex:>7}"), ("offset", "offset", lambda c: f"{c.offset:>7}"),
                 ("leans", "  leans", lambda c: f"  {c.cls:<5}"), ("score", "score", lambda c: f"{c.score or 0.0:>7.3f}"))
_STRETCH_COLUMNS = (_LOOK_COLUMNS[0], _LOOK_COLUMNS[1], _LOOK_COLUMNS[3])
_JSON_VALUE = {"video": "video", "onset": "onset", "apex": "apex", "offset": "offset", "leans": "cls",
               "score": "score"}


def _cmd_looks(args) -> int:
    run_id, places = list_places(args.project, args.run, args.scan)
    shown = places[:args.limit] if args.limit else places
    columns = _STRETCH_COLUMNS if args.scan else _LOOK_COLUMNS
    if args.json:
        print(json.dumps({"run_id": run_id, "total": len(places), "stretches" if args.scan else "looks": [
            {key: getattr(c, _JSON_VALUE[key]) for key, _, _ in columns} for c in shown]}, indent=1))
        return 0
    widths = {"video": "<24", "  leans": "<7"}
    print("".join(f"{head:{widths.get(head, '>7')}}" for _, head, _ in columns))
    for c in shown:
        print("".join(cell(c) for _, _, cell in columns))
    what = "stretches to scan in the videos of" if args.scan else "places to look at in"
    print(f"{len(places)} {what} run {run_id}"
          + (f" (the first {len(shown)} shown)" if len(shown) < len(places) else ""))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("spot", help="spot intervals in every video with a trained run",
                              description="Predict every video that has features with a run's "
                                          "model and write runs/<run>/predictions.h5.")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--run", default=None, help="run id (default: latest finished run)")
    p.add_argument("--spot-preset", dest="spot_preset", default=None,
                   help="spotting preset: default, casme2, samm_lv, casme3 (default: project "
                        "setting, else 'default'; was --preset, which still works)")
    add_deprecated_alias(p, "--preset", "--spot-preset", "spot_preset")
    p.add_argument("--progress", default="bar", choices=("bar", "jsonl", "none"))
    p.add_argument("--videos", nargs="+", metavar="ID", default=None,
                   help="only these videos (the run's predictions of the others are kept)")
    p.add_argument("--shard", metavar="K/N", default=None,
                   help="only share K of N of the videos (balanced by frames; for job arrays, "
                        "docs/cluster.md); shares merge into one predictions.h5")
    add_engine_options(p, "video")
    p.set_defaults(func=_cmd_spot)

    p = subparsers.add_parser("evaluate", help="MEGC F1 of a run against the project's reference",
                              description="Score a run's proposals against the project's "
                                          "reference intervals (IoU >= 0.5, same class).")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--run", default=None, help="run id (default: latest finished run)")
    p.add_argument("--json", action="store_true", help="machine-readable output with per-video lists")
    p.add_argument("--include-unreferenced", action="store_true",
                   help="also score videos without reference intervals (as expression-free)")
    p.add_argument("--protocol", choices=("megc", "reference"), default="megc",
                   help="megc (default): the MEGC counting; reference: the published GIM evaluation, "
                        "for figures beside published tables (a class without ground truth in a subject "
                        "is skipped there; ground-truth offsets read as exclusive ends). The output "
                        "names the protocol")
    add_engine_options(p, "evaluation (one task: scoring is light)")
    p.set_defaults(func=_cmd_evaluate)

    p = subparsers.add_parser(
        "export", help="write spotted intervals (csv, json, eaf, megc)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Export a run's intervals with review decisions applied.\n\n"
                    "  csv   video,subject,class,onset,apex,offset,score,review (header first)\n"
                    "  megc  subject,video,onset,offset,type (MEGC spot-then-recognise scorer)\n"
                    "  json  intervals with provenance\n"
                    "  eaf   ELAN: interval, apex and point-label tiers; one file per video\n\n"
                    "CSV and MEGC files get their provenance in NAME.provenance.json beside them. "
                    "An existing file is not replaced without --force; the folder must exist.")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("out_file", metavar="OUT_FILE")
    p.add_argument("--format", required=True, choices=("csv", "json", "eaf", "megc"))
    p.add_argument("--run", default=None, help="run id (default: latest finished run)")
    p.add_argument("--reviewed-only", action="store_true",
                   help="only proposals accepted or adjusted in review")
    p.add_argument("--force", action="store_true",
                   help="replace OUT_FILE (and its provenance sidecar) if it exists")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=_cmd_export)

    p = subparsers.add_parser(
        "looks", help="where to look for expressions the model nearly proposed",
        description="List a run's low-scored candidate runs that no proposal passed and no label "
                    "or earlier look covers, highest score first, one per place: the review "
                    "queue's 'Look here'. A click on an expression there teaches the next training "
                    "more than an accept (benchmarks/RESULTS.md).")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--run", default=None, help="run id (default: latest finished run)")
    p.add_argument("--limit", type=int, default=0, help="print the first N only (default: all)")
    p.add_argument("--scan", action="store_true",
                   help="list instead the 6 s stretches left to scan whole, in the order the queue's "
                        "'Scan whole' offers them (a sample that owes nothing to the model)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_looks)

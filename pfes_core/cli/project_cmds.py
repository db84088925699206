"""`pfes init`, `add-video`, `labels import|export|list|annotators`, `info`, `restore-backup`: the project store
from the shell. Every command opens, changes and saves the project in one go, so the result is
on disk (and the lock released) when it exits."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import ProjectError
from ..labelfiles import write_points
from ..labels import UNKNOWN_ANNOTATOR, annotator_title
from ..project import Project, list_backups, project_root, restore_backup
from ..types import CLASSES
from .import_cmds import add_label_import_args, cmd_labels_import


def _open(path, readonly: bool = False) -> Project:
    """Open a project and say on stderr what the open found (recovered, rejected or orphaned
    journal edits, interrupted training runs)."""
    project = Project.open(path, readonly=readonly)
    for note in project.open_notes():
        print(f"note: {note}", file=sys.stderr)
    return project


def cmd_init(args) -> int:
    project = Project.create(args.project)
    project.close()
    print(f"created {project.root}")
    return 0


def cmd_add_video(args) -> int:
    if args.id and len(args.videos) > 1:
        raise ProjectError("--id names one video; give one VIDEO with it")
    with _open(args.project) as project, project.all_or_nothing():  # all videos, or none
        for video in args.videos:
            record = project.add_video(video, subject=args.subject, video_id=args.id, step=args.step)
            print(f"added {record.id}: {record.n_frames} frames at {record.fps:g} fps ({record.path})")
        project.save()
    return 0


def export_points(path, labels, fps: dict, media: dict, videos: list, overwrite: bool) -> list[Path]:
    """Point labels to `path` by its extension (.eaf: `exports.write_points_eaf`, else
    `labelfiles.write_points`), with the export checks: no folder as the file, no missing
    folder, no silent overwrite."""
    from ..exports import ExportError, check_targets, write_points_eaf

    if str(path).lower().endswith(".eaf"):
        return write_points_eaf(path, labels, fps, media=media, videos=videos, overwrite=overwrite)
    check_targets(path, [Path(path)], overwrite)
    try:
        return [write_points(path, labels, fps=fps, overwrite=overwrite)]
    except FileExistsError:
        raise ExportError(f"{path} already exists; not overwritten (use --force to replace it)") from None


def selected_labels(project: Project, video: str | None, annotators: list[str] | None) -> list:
    """The labels of one video (or all) of some annotators (or all); unknown names are refused.
    '(unknown)' names the empty annotator."""
    if video and video not in project.videos:
        raise ProjectError(f"unknown video {video!r}")
    names = None if annotators is None else ["" if a == UNKNOWN_ANNOTATOR else a for a in annotators]
    for name in names or []:
        if name not in project.annotators():
            have = ", ".join(repr(annotator_title(a)) for a in project.annotators()) or "none"
            raise ProjectError(f"unknown annotator {annotator_title(name)!r} (the project has {have})")
    return project.labels.for_video(video, names) if video else project.labels.all(names)


def cmd_labels_export(args) -> int:
    with Project.open(args.project, readonly=True) as project:
        labels = selected_labels(project, args.video, args.annotator)
        fps = {v.id: v.fps for v in project.videos.values()}
        media = {v: project.video_path(v) for v in project.videos if not project.video_path(v).is_dir()}
    out = export_points(args.file, labels, fps, media, [args.video] if args.video else [],
                        overwrite=args.force)
    if args.json:
        print(json.dumps({"files": [str(f) for f in out], "labels": len(labels)}, indent=1))
    else:
        print(f"wrote {len(labels)} labels to {', '.join(str(f) for f in out)}")
    return 0


def cmd_labels_list(args) -> int:
    with _open(args.project, readonly=True) as project:
        labels = selected_labels(project, args.video, args.annotator)
    if args.json:
        print(json.dumps([{"video": lb.video, "frame": lb.frame, "class": lb.cls, "annotator": lb.annotator}
                          for lb in labels]))
        return 0
    width = max([len("video")] + [len(lb.video) for lb in labels])
    print(f"{'video':<{width}}  {'frame':>7}  class  annotator")
    for lb in labels:
        print(f"{lb.video:<{width}}  {lb.frame:>7}  {lb.cls:<5}  {annotator_title(lb.annotator)}")
    return 0


def annotator_rows(project: Project) -> list[dict]:
    """The project's annotator list with each one's label counts (what `labels annotators` prints)."""
    totals = {a: project.labels.class_totals([a]) for a in project.annotators()}
    return [{"name": a, "title": annotator_title(a), "colour": project.annotator_colour(a),
             "labels": sum(totals[a].values()), "per_class": totals[a]} for a in project.annotators()]


def cmd_labels_annotators(args) -> int:
    if args.colour and not args.add:
        raise ProjectError("--colour sets the colour of the annotator named by --add")
    if args.add is not None:
        with _open(args.project) as project, project.all_or_nothing():
            name = "" if args.add == UNKNOWN_ANNOTATOR else args.add
            project.register_annotator(name, args.colour)
            project.save()
    with _open(args.project, readonly=True) as project:
        rows = annotator_rows(project)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    width = max([len("annotator")] + [len(r["title"]) for r in rows])
    print(f"{'annotator':<{width}}  {'labels':>7}  {'MaE':>6}  {'ME':>6}  colour")
    for r in rows:
        print(f"{r['title']:<{width}}  {r['labels']:>7}  {r['per_class']['MaE']:>6}  {r['per_class']['ME']:>6}  "
              f"{r['colour'] or '-'}")
    return 0


def project_summary(project: Project) -> dict:
    """What `pfes info` reports, as plain data."""
    counts = project.labels.counts()
    per_class = {c: sum(v.get(c, 0) for v in counts.values()) for c in CLASSES}
    ref_per_class = {c: 0 for c in CLASSES}
    for ivs in project.reference.values():
        for iv in ivs:
            ref_per_class[iv.cls] = ref_per_class.get(iv.cls, 0) + 1
    features = sorted(p.stem for p in project.features_dir.glob("*.h5")) if project.features_dir.is_dir() else []
    runs = sorted(p.name for p in project.runs_dir.iterdir() if p.is_dir()) if project.runs_dir.is_dir() else []
    videos = []
    for v in project.videos.values():
        videos.append({"id": v.id, "path": v.path, "exists": project.video_path(v.id).exists(), "fps": v.fps,
                       "n_frames": v.n_frames, "subject": v.subject, "step": v.step,
                       "fingerprint": v.fingerprint, "labels": counts.get(v.id, {c: 0 for c in CLASSES}),
                       "reference_intervals": len(project.reference.get(v.id, [])),
                       "features": v.id in features})
    return {
        "root": str(project.root),
        "generation": project.generation,
        "videos": videos,
        "labels": {"total": len(project.labels), "per_class": per_class},
        "annotators": annotator_rows(project),
        "reference_intervals": {"total": sum(ref_per_class.values()), "per_class": ref_per_class},
        "reviews": len(project.reviews),
        "features": features,
        "runs": runs,
        "unsaved_edits": project.recovered_edits,
        "rejected_journal_lines": project.rejected_edits,
        "backups": [b["path"].name for b in list_backups(project.root) if b["ok"]],
    }


def cmd_info(args) -> int:
    with _open(args.project, readonly=True) as project:
        info = project_summary(project)
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"project   {info['root']}")
    print(f"videos    {len(info['videos'])}")
    for v in info["videos"]:
        missing = "" if v["exists"] else "  [MISSING]"
        lab = ", ".join(f"{c} {n}" for c, n in v["labels"].items())
        print(f"  {v['id']}: {v['n_frames']} frames @ {v['fps']:g} fps, subject {v['subject'] or '-'}, "
              f"labels {lab}, reference {v['reference_intervals']}{missing}")
    lab = ", ".join(f"{c} {n}" for c, n in info["labels"]["per_class"].items())
    ref = ", ".join(f"{c} {n}" for c, n in info["reference_intervals"]["per_class"].items())
    print(f"labels    {info['labels']['total']} ({lab})")
    if len(info["annotators"]) > 1:
        print("annotators " + ", ".join(f"{a['title']} {a['labels']}" for a in info["annotators"]))
    print(f"reference {info['reference_intervals']['total']} intervals ({ref})")
    print(f"reviews   {info['reviews']}")
    print(f"features  {len(info['features'])}: {', '.join(info['features']) or '-'}")
    print(f"runs      {len(info['runs'])}: {', '.join(info['runs']) or '-'}")
    if info["unsaved_edits"]:
        print(f"unsaved   {info['unsaved_edits']} edits in journal.jsonl (kept; saved on the next save)")
    print(f"backups   {', '.join(info['backups']) or '-'}")
    return 0


def cmd_restore_backup(args) -> int:
    used = restore_backup(args.project, backup=args.backup)
    print(f"restored {project_root(args.project) / 'project.h5'} from {used.name} "
          f"(the damaged file was kept as project.h5.damaged-*)")
    return 0


def register(subparsers) -> None:
    fmt = argparse.RawDescriptionHelpFormatter

    p = subparsers.add_parser("init", help="create a new project folder NAME.pfes/",
                              description="Create a project folder (the .pfes suffix is added if missing) "
                                          "with an empty project.h5, features/ and runs/.")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.set_defaults(func=cmd_init)

    p = subparsers.add_parser("add-video", help="register video files or image folders",
                              description="Register videos: measures frame count and fps, fingerprints the "
                                          "content and stores the path relative to the project. The video id "
                                          "defaults to the file name without extension.")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("videos", metavar="VIDEO", nargs="+", help="video file or folder of numbered images")
    p.add_argument("--subject", default="", help="subject id (used to split folds by subject)")
    p.add_argument("--id", default=None, help="video id (only with a single VIDEO)")
    p.add_argument("--step", type=int, default=1, help="analyse every N-th frame (default 1)")
    p.set_defaults(func=cmd_add_video)

    p = subparsers.add_parser("labels", help="import, export or list point labels",
                              description="Point labels: import (CSV/JSON points, or --intervals for a "
                                          "reference interval table), export, list.")
    sub = p.add_subparsers(dest="labels_command", metavar="ACTION")
    sub.required = True

    q = sub.add_parser("import", formatter_class=fmt, help="import points (or reference intervals)",
                       description="Import point labels, or with --intervals reference intervals (which "
                                   "replace the reference of the videos they name), from:\n"
                                   "  csv/json  video,frame,class[,annotator,created,modified] (intervals: "
                                   "video,class,onset,apex,offset)\n"
                                   "  eaf       ELAN files: --tiers, --map; times -> frames by the video's "
                                   "timestamps\n"
                                   "  boris     BORIS aggregated or tabular event exports: --map behaviours\n"
                                   "  table     .xlsx/.xls/.tsv/.csv in any columns: --columns, --sheet, "
                                   "--first-frame\n"
                                   "Class words such as macro, macro-expression, Macro, micro, "
                                   "Micro - 1/2 map to MaE/ME. All rows are\nchecked first (frames "
                                   "inside their video included); on any error nothing is written.")
    q.add_argument("project", metavar="PROJECT_DIR")
    q.add_argument("file", metavar="FILE")
    q.add_argument("--intervals", action="store_true", help="FILE is a reference interval table")
    q.add_argument("--annotator", default=None, help="annotator for rows that name none (default: user name)")
    q.add_argument("--skip-existing", action="store_true",
                   help="skip labels already in the project instead of refusing the import")
    q.add_argument("--skip-unknown", action="store_true", help="skip rows of videos not in the project")
    add_label_import_args(q)
    q.set_defaults(func=cmd_labels_import)

    q = sub.add_parser("export", help="export point labels to CSV, JSON or ELAN EAF (by extension)",
                       description="Write the project's point labels to FILE: .csv "
                                   "(video,frame,class,annotator,time_s,created,modified), .json, or "
                                   ".eaf (ELAN tiers 'MaE points' and 'ME points'; one file per video, "
                                   "FILE.<video>.eaf when there are several). An existing file is not "
                                   "replaced without --force.")
    q.add_argument("project", metavar="PROJECT_DIR")
    q.add_argument("file", metavar="FILE")
    q.add_argument("--video", default=None, help="only this video")
    q.add_argument("--annotator", action="append", default=None, metavar="NAME",
                   help="only this annotator's labels (repeat for several; '(unknown)': the empty name)")
    q.add_argument("--force", action="store_true", help="replace FILE if it exists")
    q.add_argument("--json", action="store_true", help="print what was written as JSON")
    q.set_defaults(func=cmd_labels_export)

    q = sub.add_parser("list", help="print point labels", description="Print point labels, sorted by video and frame.")
    q.add_argument("project", metavar="PROJECT_DIR")
    q.add_argument("--video", default=None, help="only this video")
    q.add_argument("--annotator", action="append", default=None, metavar="NAME",
                   help="only this annotator's labels (repeat for several; '(unknown)': the empty name)")
    q.add_argument("--json", action="store_true", help="print a JSON list")
    q.set_defaults(func=cmd_labels_list)

    q = sub.add_parser("annotators", help="the project's annotators (label layers) and their counts",
                       description="List the project's annotators with their label counts, or add one "
                                   "(--add NAME, optionally --colour #rrggbb for its timeline layer). "
                                   "The annotator 'consensus' is the adjudicated layer.")
    q.add_argument("project", metavar="PROJECT_DIR")
    q.add_argument("--add", metavar="NAME", default=None, help="add NAME to the annotator list")
    q.add_argument("--colour", metavar="#RRGGBB", default=None, help="layer colour of the annotator --add names")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=cmd_labels_annotators)

    p = subparsers.add_parser("info", help="summarise a project",
                              description="Videos, labels per class, reference intervals, features present "
                                          "and runs. Opens read-only (works while the app has it open).")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = subparsers.add_parser("restore-backup", help="replace a damaged project.h5 by a backup",
                              description="Make the newest readable backup (project.h5.bak1..3) the current "
                                          "project.h5; the damaged file is kept as project.h5.damaged-<time>.")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--backup", type=int, choices=range(1, 4), default=None, metavar="N",
                   help="use project.h5.bakN (1 = newest) instead of the newest readable one")
    p.set_defaults(func=cmd_restore_backup)

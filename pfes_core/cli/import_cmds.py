"""`pfes import-dataset` and the annotation-file side of `pfes labels import` (ELAN, BORIS,
spreadsheets): data a lab already has, into a project."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from pathlib import Path

from .. import annotation_formats as af
from ..datasets import DATASETS, POINT_MODES, TITLES, import_dataset
from ..errors import LabelError
from ..labels import BulkImport
from ..project import Project
from ..types import CLASSES


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name available (containers)
        return ""


def _located(args, path: Path, project, fmt: str, annotator: str, now: float) -> af.Imported:
    """Read FILE in `fmt` into located points or intervals, every frame checked against its video."""
    return af.read_annotations(path, project, fmt, intervals=bool(args.intervals), annotator=annotator,
                               now=now, tiers=args.tiers, apex_tier=args.apex_tier,
                               mapping=af.parse_mapping(args.map), columns=af.parse_columns(args.columns),
                               sheet=args.sheet, first_frame=args.first_frame, video=args.video)


def cmd_labels_import(args) -> int:
    """`pfes labels import`: every format, all rows checked before anything is written."""
    path = Path(args.file)
    fmt = af.detect_format(path, af.parse_columns(args.columns)) if args.format == "auto" else args.format
    annotator = args.annotator if args.annotator is not None else _user()
    with Project.open(args.project) as project, project.all_or_nothing():  # a failed save leaves no journal line
        result = _located(args, path, project, fmt, annotator, time.time())
        items = result.intervals if args.intervals else result.points
        unknown = sorted({x.video for _w, x in items} - set(project.videos))
        if unknown and not args.skip_unknown:
            raise LabelError(f"{path}: unknown videos {', '.join(unknown[:5])}"
                             f"{' ...' if len(unknown) > 5 else ''} (register them first, or --skip-unknown)")
        kept = [x for _w, x in items if x.video in project.videos]
        if not kept and not unknown and result.ignored:
            raise LabelError(f"{path}: nothing in it maps to MaE or ME ({result.ignored} annotations "
                             f"passed over); choose tiers with --tiers or words with --map WORD=MaE")
        report = {"file": str(path), "format": fmt, "kind": "intervals" if args.intervals else "points",
                  "imported": 0, "already_present": 0, "unknown_video_rows_skipped": len(items) - len(kept),
                  "ignored": result.ignored, "per_class": {c: 0 for c in CLASSES},
                  "videos": sorted({x.video for x in kept})}
        if args.intervals:
            project.set_reference(kept)
            added = kept
        else:
            edit = BulkImport(kept, skip_existing=args.skip_existing)
            try:
                project.apply(edit)
            except LabelError as exc:
                hint = "" if args.skip_existing else " (use --skip-existing to skip labels already present)"
                raise LabelError(f"{path}: {exc}{hint if 'already exists' in str(exc) else ''}") from None
            added = edit.added
            report["already_present"] = len(kept) - len(added)
        project.save()
    report["imported"] = len(added)
    for x in added:
        report["per_class"][x.cls] += 1
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    what = "reference intervals" if args.intervals else "labels"
    extra = [f"{report['already_present']} already present" if report["already_present"] else "",
             f"{report['unknown_video_rows_skipped']} of unknown videos skipped"
             if report["unknown_video_rows_skipped"] else "",
             f"{result.ignored} annotations not mapped to a class passed over" if result.ignored else ""]
    videos = f" for {len(report['videos'])} videos" if args.intervals else ""
    print(f"imported {len(added)} {what}{videos}" + "".join(f"; {e}" for e in extra if e))
    return 0


def add_label_import_args(q) -> None:
    """The format options of `pfes labels import` (the parser itself lives with the labels commands)."""
    q.add_argument("--format", choices=af.FORMATS, default="auto",
                   help="auto (default: by extension and content), csv, json, eaf (ELAN), boris, "
                        "table (a spreadsheet or TSV with --columns)")
    q.add_argument("--tiers", nargs="+", default=None, metavar="TIER",
                   help="ELAN: the tiers to read (default: all but apex tiers; '... points' tiers for points)")
    q.add_argument("--apex-tier", default=None, metavar="TIER",
                   help="ELAN: tier whose annotations mark apexes (default: tiers named '... apex')")
    q.add_argument("--map", action="append", default=None, metavar="WORD=CLASS[,...]",
                   help="map annotation values, tier names or BORIS behaviours to MaE or ME "
                        "('-' leaves a word out), e.g. --map 'smile=MaE,twitch=ME,blink=-'")
    q.add_argument("--columns", action="append", default=None, metavar="FIELD=COLUMN[,...]",
                   help="table: which column holds video, class, frame (points) or onset, apex, offset "
                        "(intervals), e.g. --columns 'video=Filename,class=Type,frame=Apex'")
    q.add_argument("--sheet", default=None, help="table/BORIS workbook: sheet name (default: the first)")
    q.add_argument("--first-frame", type=int, choices=(0, 1), default=0,
                   help="table: the number of the first frame in the table (default 0)")
    q.add_argument("--video", default=None, metavar="ID",
                   help="the project video every row belongs to (ELAN/BORIS/table without a media column)")
    q.add_argument("--json", action="store_true", help="print the result as JSON")


def cmd_import_dataset(args) -> int:
    def progress(k, n, message):
        if not args.json and sys.stderr.isatty():
            print(f"\r[{k + 1}/{n}] {message}\x1b[K", end="", file=sys.stderr, flush=True)

    summary = import_dataset(args.dataset, args.root, args.project, subjects=args.subjects, step=args.step,
                             points=args.points, seed=args.seed, media=args.media, progress=progress)
    if not args.json and sys.stderr.isatty():
        print("\r\x1b[K", end="", file=sys.stderr)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=1))
    else:
        print("\n".join(summary.lines()))
    return 0


def register(subparsers) -> None:
    names = ", ".join(f"{k} ({v})" for k, v in TITLES.items())
    p = subparsers.add_parser(
        "import-dataset", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="make a project from CAS(ME)^2, SAMM-LV or CAS(ME)^3 as published",
        description=f"Create PROJECT_DIR from a spotting dataset in its published layout: {names}.\n"
                    "Registers every recording (video file or folder of numbered frames) under its "
                    "subject, imports the\nworkbook's intervals as the reference and one point label "
                    "per interval (its apex, or a frame\nsampled around the apex with --points sampled).\n\n"
                    "Rules, counted in the summary: an offset coded 0 makes the interval symmetric around "
                    "the apex;\nan apex that is missing or outside the interval becomes its midpoint; "
                    "duplicated rows are kept\nonce; intervals starting past the video's end are dropped. "
                    "On any error nothing is written.\n\n"
                    "layouts:\n"
                    "  casme2   ROOT/CAS(ME)^2code_final.xlsx, rawpic/ (or rawvideo/, cropped/ with --media)\n"
                    "  samm-lv  ROOT/SAMM_LongVideos_V*_Release.xlsx, SAMM_longvideos/  (200 fps; --step 7 "
                    "by default)\n"
                    "  casme3   ROOT/**/CAS(ME)3_part_A_v2.xls, data/part_A/spNO.*/<letter>/color/")
    p.add_argument("dataset", choices=list(DATASETS), metavar="DATASET", help=" | ".join(DATASETS))
    p.add_argument("root", metavar="DATASET_ROOT", help="the dataset's folder (holding the workbook)")
    p.add_argument("project", metavar="PROJECT_DIR", help="the project to create (must not exist)")
    p.add_argument("--subjects", nargs="+", default=None, metavar="ID",
                   help="only these subjects (folder names or numbers: 15 = s15, 6 = 006)")
    p.add_argument("--step", type=int, default=None, metavar="N",
                   help="analyse every N-th frame (default 1; 7 for SAMM-LV's 200 fps)")
    p.add_argument("--points", choices=POINT_MODES, default="apex",
                   help="point label per interval: its apex (default) or a frame sampled around it")
    p.add_argument("--seed", type=int, default=0, help="random seed for --points sampled (default 0)")
    p.add_argument("--media", choices=("auto", "frames", "video", "cropped"), default="auto",
                   help="CAS(ME)^2: rawpic/ frames (auto, when present), rawvideo/ files or cropped/ faces")
    p.add_argument("--json", action="store_true", help="print the import summary as JSON")
    p.set_defaults(func=cmd_import_dataset)

"""`pfes import-dataset` and the annotation-file side of `pfes labels import` (ELAN, BORIS,
spreadsheets): data a lab already has, into a project."""

from __future__ import annotations

import argparse
import json
import sys

from ..datasets import DATASETS, POINT_MODES, TITLES, import_dataset


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

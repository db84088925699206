"""`pfes synth` (the synthetic benchmark) and `pfes demo` (the built-in demo project)."""

from __future__ import annotations

import argparse

from ..progress import ProgressReporter


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "synth", help="render the synthetic benchmark (real faces, AU-like warps, real timing)",
        description="Write OUT_DIR/videos/*.mp4, ground_truth.csv, points.csv and manifest.json. "
                    "The same seed gives identical output.")
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subjects", type=int, default=4)
    p.add_argument("--videos-per-subject", type=int, default=2)
    p.add_argument("--minutes", type=float, default=1.0, help="length of each video")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--size", default="256x256", help="frame size WxH (even numbers)")
    p.add_argument("--density", type=float, default=1.0,
                   help="event rate relative to the real tables' gaps (1 = as recorded)")
    p.add_argument("--jobs", type=int, default=1, help="videos rendered in parallel")
    p.add_argument("--progress", choices=("bar", "jsonl", "none"), default="bar")
    p.set_defaults(func=_synth)

    d = subparsers.add_parser(
        "demo", help="build the demo project (synthetic subjects, labels, ground truth, features)")
    d.add_argument("project", nargs="?", default="demo.pfes", metavar="PROJECT_DIR")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--subjects", type=int, default=4)
    d.add_argument("--videos-per-subject", type=int, default=2)
    d.add_argument("--seconds", type=float, default=15.0, help="length of each video")
    d.add_argument("--jobs", type=int, default=2, help="parallel workers for rendering and features")
    d.add_argument("--progress", choices=("bar", "jsonl", "none"), default="bar")
    d.set_defaults(func=_demo)


def _synth(args: argparse.Namespace) -> int:
    from ..synth import parse_size, synthesize

    reporter = ProgressReporter(args.progress)
    try:
        manifest = synthesize(args.out_dir, seed=args.seed, subjects=args.subjects,
                              videos_per_subject=args.videos_per_subject, minutes=args.minutes,
                              fps=args.fps, size=parse_size(args.size), density=args.density,
                              jobs=args.jobs, progress=reporter)
    finally:
        reporter.close()
    if args.progress != "jsonl":
        n = sum(len(v["events"]) for v in manifest["videos"])
        print(f"wrote {len(manifest['videos'])} videos with {n} expressions to {args.out_dir}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ..demo import build_demo_project

    reporter = ProgressReporter(args.progress)
    try:
        root = build_demo_project(args.project, seed=args.seed, subjects=args.subjects,
                                  videos_per_subject=args.videos_per_subject, seconds=args.seconds,
                                  progress=reporter, jobs=args.jobs)
    finally:
        reporter.close()
    if args.progress != "jsonl":
        print(f"demo project ready: {root}  (open it with: pfes-gui {root})")
    return 0

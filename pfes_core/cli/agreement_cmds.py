"""`pfes agreement`: how well a project's annotators agree, their disagreements for adjudication,
and agreement of two sets of reference intervals (rules in pfes_core.agreement)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .. import adjudication as adj
from ..agreement import AgreementError, format_report, interval_agreement, label_agreement
from ..labels import CONSENSUS, UNKNOWN_ANNOTATOR
from ..project import Project


def _names(text: str | None) -> list[str] | None:
    """'ann,bob' -> ['ann', 'bob']; '(unknown)' names the empty annotator."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    return ["" if n == UNKNOWN_ANNOTATOR else n for n in names]


def _two(project, names: list[str] | None) -> tuple[str, str]:
    """The pair to adjudicate: the first two of --annotators, else the first two layers with labels
    that are not the consensus layer."""
    pool = names if names is not None else [a for a in project.labels.annotators() if a != CONSENSUS]
    if len(pool) < 2:
        raise AgreementError("adjudication compares two annotators; name them with --annotators A,B")
    return pool[0], pool[1]


def _intervals(project, paths: list[str]) -> dict:
    from ..annotation_formats import read_annotations

    if len(paths) > 2:
        raise AgreementError("--intervals compares two sets: give it once (against the project's "
                             "reference) or twice")
    sets = []
    for path in paths:
        result = read_annotations(Path(path), project, intervals=True)
        by_video: dict = {}
        for _where, iv in result.intervals:
            by_video.setdefault(iv.video, []).append(iv)
        sets.append((str(path), by_video))
    if len(sets) == 1:
        sets.insert(0, ("project reference", dict(project.reference)))
    (name_a, a), (name_b, b) = sets
    videos = sorted(set(a) | set(b))
    return {"a": name_a, "b": name_b, **interval_agreement(a, b, videos)}


def cmd_agreement(args) -> int:
    if args.tolerance is not None and args.tolerance_ms is not None:
        raise AgreementError("give --tolerance (frames) or --tolerance-ms, not both")
    writing = bool(args.accept_agreements)
    with Project.open(args.project, readonly=not writing) as project:
        names = _names(args.annotators)
        if args.intervals:
            result = _intervals(project, args.intervals)
            print(json.dumps(result, indent=1) if args.json else _interval_text(result))
            return 0
        report = label_agreement(project, names, args.tolerance, args.tolerance_ms)
        out = report.to_dict()
        items = []
        if args.disagreements or writing:
            a, b = _two(project, names)
            tol = report.tolerance_of
            if writing:
                with project.all_or_nothing():
                    edit = adj.accept_agreements_edit(project, a, b, tol, args.large_offset, time.time())
                    project.apply(edit)
                    project.save()
                out["consensus_added"] = len(edit.added)
            items = adj.disagreements(project, a, b, tol, args.large_offset)
            out["disagreements"] = [{"video": d.video, "kind": d.kind, "frame": d.frame,
                                     "a": _point(d.label_a), "b": _point(d.label_b),
                                     "resolution": adj.resolution(project, d, tol)} for d in items]
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(format_report(report, per_video=not args.overall_only))
    if "consensus_added" in out:
        print(f"added {out['consensus_added']} agreed labels to the {CONSENSUS!r} layer")
    if args.disagreements:
        open_items = [d for d, o in zip(items, out["disagreements"]) if o["resolution"] is None]
        print(f"{len(items)} disagreements, {len(open_items)} unresolved:")
        for d in open_items:
            print(f"  {d.video}  {d.frame:>7}  {d.kind:<9}  {d.describe()}")
    return 0


def _point(lb) -> dict | None:
    return None if lb is None else {"frame": lb.frame, "class": lb.cls, "annotator": lb.annotator}


def _interval_text(result: dict) -> str:
    o = result["overall"]
    lines = [f"{result['a']} (A) vs {result['b']} (B), MEGC matching (same class, IoU >= 0.5)"]
    for name, c in [*result["classes"].items(), ("overall", o)]:
        lines.append(f"  {name:<8} A {c['n_gt']:>5}  B {c['n_pred']:>5}  matched {c['tp']:>5}  "
                     f"precision {c['precision']:.3f}  recall {c['recall']:.3f}  F1 {c['f1']:.3f}")
    return "\n".join(lines)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "agreement", help="agreement between annotators (matching with a tolerance), disagreements",
        description="For every pair of annotators: one-to-one optimal matching of their point labels of the "
                    "same class within the tolerance; precision and recall of B against A, F1, the class "
                    "confusion of a class-blind matching (MaE vs ME), the median offset in frames; per video "
                    "and overall. --disagreements lists what is left to adjudicate; --accept-agreements "
                    "puts what two annotators agree on into the 'consensus' layer. --intervals compares "
                    "reference intervals (MEGC matching, IoU >= 0.5).")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--annotators", metavar="A,B,...", default=None,
                   help="annotators to compare (default: every annotator with labels; '(unknown)' is the "
                        "empty name)")
    p.add_argument("--tolerance", type=int, metavar="FRAMES", default=None,
                   help="labels at most this many frames apart can match (default 5)")
    p.add_argument("--tolerance-ms", type=float, metavar="MS", default=None,
                   help="the tolerance in milliseconds (floor(MS * fps / 1000) frames per video)")
    p.add_argument("--disagreements", action="store_true",
                   help="list the disagreements of two annotators (the first two of --annotators)")
    p.add_argument("--large-offset", type=int, metavar="FRAMES", default=None,
                   help="same-class pairs further apart than this are listed (default: half the tolerance)")
    p.add_argument("--accept-agreements", action="store_true",
                   help="add the agreed labels of two annotators to the consensus layer (journaled, saved)")
    p.add_argument("--intervals", metavar="FILE", action="append", default=None,
                   help="compare reference intervals instead: FILE against the project's reference, or "
                        "two FILEs against each other (give --intervals twice)")
    p.add_argument("--overall-only", action="store_true", help="only the overall row of each pair")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_agreement)


"""Project store speed: journaled edits one by one (target median < 1 ms) and saving 100,000 labels
(target < 1 s). Prints a table and appends a section to benchmarks/RESULTS.md.

    python benchmarks/bench_project.py [--edits 10000] [--labels 100000] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pfes_core.labels import AddLabel, BulkImport
from pfes_core.project import Project
from pfes_core.types import PointLabel


def bench_edits(folder: Path, n: int, durable: bool = False) -> dict:
    folder = folder / ("durable" if durable else "flush")
    folder.mkdir()
    project = Project.create(folder / "edits", durable=durable)
    project.add_video(folder / "v.mp4", video_id="v", fps=30, n_frames=10 * n, fingerprint="f")
    project.save()
    times = []
    for i in range(n):
        edit = AddLabel("v", 7 * i % (10 * n), "ME" if i % 2 else "MaE", "bench")
        t0 = time.perf_counter()
        project.apply(edit)
        times.append(time.perf_counter() - t0)
    project.close()
    t0 = time.perf_counter()
    reopened = Project.open(folder / "edits.pfes")
    replay = time.perf_counter() - t0
    assert reopened.recovered_edits == n
    reopened.close()
    times.sort()
    return {"median_ms": statistics.median(times) * 1e3, "p95_ms": times[int(0.95 * (n - 1))] * 1e3,
            "max_ms": times[-1] * 1e3, "replay_s": replay}


def bench_save(folder: Path, n: int) -> dict:
    project = Project.create(folder / "save")
    videos = 20
    for v in range(videos):
        project.add_video(folder / f"v{v}.mp4", video_id=f"v{v}", fps=30, n_frames=n, fingerprint="f")
    labels = [PointLabel(f"v{i % videos}", i // videos * 3, "ME" if i % 4 else "MaE", f"ann{i % 3}",
                         1.7e9 + i, 1.7e9 + i) for i in range(n)]
    project.apply(BulkImport(labels))
    saves = []
    for _ in range(3):
        t0 = time.perf_counter()
        project.save()
        saves.append(time.perf_counter() - t0)
    project.close()
    t0 = time.perf_counter()
    again = Project.open(folder / "save.pfes", readonly=True)
    open_s = time.perf_counter() - t0
    assert len(again.labels) == n
    again.close()
    return {"save_s": statistics.median(saves), "open_s": open_s,
            "size_mb": (folder / "save.pfes" / "project.h5").stat().st_size / 1e6}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edits", type=int, default=10_000)
    ap.add_argument("--labels", type=int, default=100_000)
    ap.add_argument("--dir", default=None, help="where to put the scratch projects (default: a temp folder "
                                               "next to this repository, so the disk is the real one)")
    ap.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = ap.parse_args()
    base = Path(args.dir) if args.dir else Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory(prefix="bench_project_", dir=base) as tmp:
        e = bench_edits(Path(tmp), args.edits)
        d = bench_edits(Path(tmp), min(args.edits, 2000), durable=True)
        s = bench_save(Path(tmp), args.labels)
    rows = [
        (f"journaled edit (flush, the default), median ({args.edits} edits)", f"{e['median_ms']:.3f} ms", "< 1 ms"),
        ("journaled edit, p95", f"{e['p95_ms']:.3f} ms", ""),
        ("journaled edit, max", f"{e['max_ms']:.2f} ms", ""),
        (f"journaled edit with fdatasync (durable=True), median ({min(args.edits, 2000)} edits)",
         f"{d['median_ms']:.3f} ms", ""),
        ("journaled edit with fdatasync, p95", f"{d['p95_ms']:.3f} ms", ""),
        (f"open + replay {args.edits} journaled edits", f"{e['replay_s']:.2f} s", ""),
        (f"save {args.labels} labels (median of 3)", f"{s['save_s']:.3f} s", "< 1 s"),
        (f"open {args.labels} labels", f"{s['open_s']:.3f} s", ""),
        ("project.h5 size", f"{s['size_mb']:.1f} MB", ""),
    ]
    table = ["| measure | result | target |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    print("\n".join(table))
    if not args.no_record:
        uname = " ".join(platform.uname())
        section = [
            "", "## Project store (benchmarks/bench_project.py)", "",
            f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
            f"- machine: `{uname}`, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            f"- command: `python benchmarks/bench_project.py {' '.join(sys.argv[1:])}`",
            "- edits are AddLabel through Project.apply: validate, index insert, journal line written and "
            "flushed before returning (durable=True rows: also fdatasync'ed). Shared 2-core machine, other "
            f"jobs running (load average {os.getloadavg()[0]:.1f} at the end).",
            "", *table, ""]
        results = Path(__file__).resolve().parent / "RESULTS.md"
        with open(results, "a", encoding="utf-8") as fh:
            fh.write("\n".join(section) + "\n")
        print(f"appended to {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

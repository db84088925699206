"""GUI responsiveness: frame step latency from the cache, and timeline redraws on 100,000 frames.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui.py [--no-append]

1. Frame step: the real MainWindow on a real video (tests/data, 640x360); each step is
   ``seek(f + 1)`` after a 40 ms pause (a held arrow key repeats about every 30-40 ms), timed until
   the new frame is on screen *and painted* (a synchronous repaint of the frame view). Target:
   p95 < 16 ms (one frame at 60 Hz).
2. Timeline: a 100,000-frame video with an intensity curve, apex scores, 2,000 proposals, 1,000
   labels and 500 reference intervals; time per pan (10 % of the visible width) or zoom, including a
   synchronous repaint of the detail view, at three zoom levels.

``--baseline-rev REV`` also times the timeline as it was at git revision REV (its
pfes_gui/timeline.py, loaded from git), in the same run (``--rounds`` alternates the two), so
before/after figures share the machine's load.

Prints a table and appends it to benchmarks/RESULTS.md (machine, date, command).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "tests" / "data" / "WolfgangLanger_Pexels.mp4"


def pct(values, q):
    return float(np.percentile(np.asarray(values), q))


def wait_until(app, predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("condition not met")
        app.processEvents()
        time.sleep(0.001)


def bench_frame_step(app, n_steps: int = 150) -> dict:
    from pfes_core.project import Project
    from pfes_gui.main_window import MainWindow

    tmp = Path(tempfile.mkdtemp(prefix="pfes-bench-"))
    try:
        project = Project.create(tmp / "bench")
        project.add_video(VIDEO)
        project.save()
        project.close()
        win = MainWindow(annotator="bench")
        win.resize(1400, 900)
        win.show()
        win.open_project(project.root)
        vid = win.current_video_id
        wait_until(app, lambda: win.frame_view.frame_index == 0)
        start = 100
        win.go_to_frame(vid, start)
        wait_until(app, lambda: win.frame_view.frame_index == start)
        times, misses = [], 0
        for k in range(1, n_steps + 1):
            target = start + k
            t_pause = time.monotonic() + 0.040
            while time.monotonic() < t_pause:      # idle time between key repeats
                app.processEvents()
                time.sleep(0.002)
            hit = win.fetcher.cached(target) is not None
            misses += not hit
            t0 = time.perf_counter()
            win.seek(target)
            if win.frame_view.frame_index != target:
                wait_until(app, lambda: win.frame_view.frame_index == target)
            win.frame_view.view.viewport().repaint()
            win.timeline.detail.viewport().repaint()
            times.append((time.perf_counter() - t0) * 1000.0)
        win.close()
        return {"n": n_steps, "p50": pct(times, 50), "p95": pct(times, 95), "max": max(times),
                "misses": misses}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def baseline_timeline_class(rev: str):
    """The Timeline class of pfes_gui/timeline.py at git revision ``rev``."""
    import importlib.util
    import subprocess

    source = subprocess.run(["git", "show", f"{rev}:pfes_gui/timeline.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="pfes-bench-tl-")) / "timeline_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("pfes_gui._timeline_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Timeline


def bench_timeline(app, n_frames: int = 100_000, timeline_cls=None) -> list[dict]:
    from pfes_core.types import Interval, PointLabel
    from pfes_gui.timeline import Timeline

    rng = np.random.default_rng(0)
    tl = (timeline_cls or Timeline)()
    tl.resize(1400, 320)
    tl.show()
    tl.set_video(n_frames, 30.0)
    # Model outputs are smooth (a 1-D conv net over ~17-frame windows): smoothed noise + peaks.
    def smooth(x, k=15):
        return np.convolve(x, np.ones(k) / k, mode="same")

    intensity = np.clip(smooth(rng.random(n_frames) ** 4 * 3), 0, 1)
    apex = np.stack([smooth(rng.random(n_frames) ** 6), smooth(rng.random(n_frames) ** 6)], axis=1)
    onsets = np.sort(rng.choice(n_frames - 100, 2000, replace=False))
    props = [Interval("v", "MaE" if i % 3 else "ME", int(o), int(o) + 5, int(o) + 10 + i % 40,
                      float(rng.random())) for i, o in enumerate(onsets)]
    tl.set_predictions(intensity, apex, props)
    tl.set_proposal_status([None if i % 4 else "accepted" for i in range(len(props))])
    ref_on = np.sort(rng.choice(n_frames - 100, 500, replace=False))
    tl.set_reference([Interval("v", "ME", int(o), int(o) + 4, int(o) + 12) for o in ref_on])
    frames = np.sort(rng.choice(n_frames, 1000, replace=False))
    tl.set_labels([PointLabel("v", int(f), "MaE" if i % 2 else "ME") for i, f in enumerate(frames)])
    app.processEvents()
    rows = []
    for width in (n_frames, 10_000, 1_000):
        lo = n_frames / 2 - width / 2
        tl.set_view_range(lo, lo + width)
        app.processEvents()
        tl.detail.viewport().repaint()
        pan, zoom = [], []
        for k in range(40):
            shift = (0.1 if k % 2 == 0 else -0.1) * width if width < n_frames else 0.0
            t0 = time.perf_counter()
            tl.set_view_range(lo + shift, lo + shift + width)
            tl.overview.viewport().repaint()
            tl.detail.viewport().repaint()
            pan.append((time.perf_counter() - t0) * 1000.0)
            app.processEvents()
        for k in range(20):
            factor = 0.8 if k % 2 == 0 else 1.25
            t0 = time.perf_counter()
            tl.zoom(factor)
            tl.overview.viewport().repaint()
            tl.detail.viewport().repaint()
            zoom.append((time.perf_counter() - t0) * 1000.0)
            app.processEvents()
        rows.append({"width": width, "pan_p50": pct(pan, 50), "pan_p95": pct(pan, 95),
                     "zoom_p50": pct(zoom, 50), "zoom_p95": pct(zoom, 95)})
    tl.close()
    return rows


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import PySide6
    import pyqtgraph

    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python "
            f"{platform.python_version()}, PySide6 {PySide6.__version__}, pyqtgraph "
            f"{pyqtgraph.__version__}, QPA {os.environ.get('QT_QPA_PLATFORM')}, load average "
            f"{os.getloadavg()[0]:.1f} at the start (machine shared with other jobs)")


def command_line() -> str:
    return " ".join(["QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui.py", *sys.argv[1:]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-append", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--baseline-rev", help="also time the timeline of this git revision")
    parser.add_argument("--rounds", type=int, default=1,
                        help="timeline rounds (alternating baseline/current); medians of rounds")
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    import pfes_gui  # noqa: F401  (applies the PySide6 6.12 reference guard)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    step = bench_frame_step(app)
    baseline_cls = baseline_timeline_class(args.baseline_rev) if args.baseline_rev else None
    runs, base_runs = [], []
    for _ in range(max(args.rounds, 1)):
        if baseline_cls is not None:
            base_runs.append(bench_timeline(app, timeline_cls=baseline_cls))
        runs.append(bench_timeline(app))

    def merge(rounds):
        return [{k: (row[k] if k == "width" else statistics.median(r[i][k] for r in rounds))
                 for k in row} for i, row in enumerate(rounds[0])]

    timeline = merge(runs)
    baseline = merge(base_runs) if base_runs else None

    lines = [
        "| GUI measurement | p50 ms | p95 ms | notes |",
        "|---|---:|---:|---|",
        f"| frame step, cached (640x360, seek + paint) | {step['p50']:.2f} | {step['p95']:.2f} | "
        f"{step['n']} steps, {step['misses']} cache misses, max {step['max']:.1f} ms; target < 16 |",
    ]
    for label, rows in ((f"timeline @ {args.baseline_rev} (before)", baseline),
                        ("timeline (now)" if baseline else "timeline", timeline)):
        if rows is None:
            continue
        for row in rows:
            lines.append(f"| {label}, 100k frames, pan, {row['width']:,} visible | "
                         f"{row['pan_p50']:.2f} | {row['pan_p95']:.2f} | pan 10 %, overview + "
                         f"detail repaint |")
            lines.append(f"| {label}, 100k frames, zoom, ~{row['width']:,} visible | "
                         f"{row['zoom_p50']:.2f} | {row['zoom_p95']:.2f} | zoom x0.8 / x1.25 |")
    table = "\n".join(lines)
    print(table)
    if not args.no_append:
        results = ROOT / "benchmarks" / "RESULTS.md"
        header = "" if results.exists() else "# Benchmark results\n"
        with results.open("a") as fh:
            fh.write(f"{header}\n## GUI responsiveness ({time.strftime('%Y-%m-%d %H:%M')})\n\n"
                     f"Machine: {machine()}  \nCommand: `{command_line()}`\n\n{table}\n")
        print(f"appended to {results}")
    return 0 if step["p95"] < 16.0 else 1


if __name__ == "__main__":
    sys.exit(main())

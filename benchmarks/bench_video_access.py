"""Frame access latency of pfes_core.video on a 640x480 H.264 file with a 2 s GOP.

Targets (issue #3): one-frame forward step from a decoded GOP p95 < 5 ms; random seek p95 < 150 ms.
Run: python benchmarks/bench_video_access.py [--append-results]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pfes_core.video import open_video  # noqa: E402
from video_helpers import WOLFGANG, write_video  # noqa: E402


def make_640x480(path: Path, n: int = 360, fps: int = 30, gop_s: float = 2.0) -> Path:
    """The real 640x360 face clip padded to 640x480 (60 px bars), H.264 yuv420p, fixed GOP."""
    frames = []
    for f in open_video(WOLFGANG).iter_frames(0, n):
        frames.append(np.pad(f, ((60, 60), (0, 0), (0, 0))))
    return write_video(path, frames, fps=fps, gop=int(gop_s * fps),
                       options={"preset": "veryfast", "bf": "2", "keyint_min": str(int(gop_s * fps)),
                                "sc_threshold": "0"})


def percentiles(ms):
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "max": float(np.max(ms))}


def run(path: Path, seed: int = 0, interval_s: float = 1 / 30) -> dict:
    t = time.perf_counter()
    reader = open_video(path)
    open_ms = (time.perf_counter() - t) * 1000
    rng = np.random.default_rng(seed)
    n = reader.n_frames
    # Random seeks: a fresh (uncached) target each time.
    seek = []
    for i in rng.integers(0, n, 60):
        reader._cache.clear()
        reader._cursor = None
        t = time.perf_counter()
        reader.get(int(i))
        seek.append((time.perf_counter() - t) * 1000)
    # Forward stepping after a seek: the annotator's right-arrow key, at key-repeat speed (30/s).
    fwd = []
    for start in rng.integers(0, n - 40, 5):
        reader._cache.clear()
        reader._cursor = None
        reader.get(int(start))
        for i in range(int(start) + 1, int(start) + 31):
            time.sleep(interval_s)
            t = time.perf_counter()
            reader.get(i)
            fwd.append((time.perf_counter() - t) * 1000)
    # Backward stepping right after a seek (neighbours kept from the GOP decode).
    back = []
    for start in rng.integers(40, n, 5):
        reader._cache.clear()
        reader._cursor = None
        reader.get(int(start))
        for i in range(int(start) - 1, int(start) - 11, -1):
            time.sleep(interval_s)
            t = time.perf_counter()
            reader.get(i)
            back.append((time.perf_counter() - t) * 1000)
    return {"frames": n, "size": reader.size, "keyframes": len(reader._keys), "open_ms": open_ms,
            "interval_ms": interval_s * 1000, "seek": percentiles(seek), "forward": percentiles(fwd), "backward": percentiles(back)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--append-results", action="store_true", help="append to benchmarks/RESULTS.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = make_640x480(Path(tmp) / "face_640x480_gop2s.mp4")
        res = run(path)
    rows = [("random seek", res["seek"], "< 150"), ("step forward", res["forward"], "< 5"),
            ("step backward (10 after a seek)", res["backward"], "")]
    lines = [f"File: 640x480 H.264 (real face clip padded), {res['frames']} frames at 30 fps, "
             f"GOP 2 s ({res['keyframes']} keyframes), B-frames; open (index) {res['open_ms']:.0f} ms. "
             f"Steps are {res['interval_ms']:.0f} ms apart (key repeat); each seek is uncached.",
             "", "| access | p50 ms | p95 ms | max ms | target p95 ms |", "|---|---|---|---|---|"]
    for name, p, target in rows:
        lines.append(f"| {name} | {p['p50']:.1f} | {p['p95']:.1f} | {p['max']:.1f} | {target} |")
    table = "\n".join(lines)
    print(table)
    if args.append_results:
        _append("Video access latency (bench_video_access.py)", table,
                "python benchmarks/bench_video_access.py --append-results")
    return 0


def _append(title: str, body: str, command: str) -> None:

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [l.split(":", 1)[1].strip() for l in fh if l.startswith("model name")]
        cpu = f"{names[0]} x{len(names)}" if names else cpu
    except OSError:
        pass
    text = (f"\n## {title}\n\n- Machine: {cpu}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; other jobs may share the CPUs\n"
            f"- Date: {time.strftime('%Y-%m-%d %H:%M %Z')}\n- Command: `{command}`\n\n{body}\n")
    path = ROOT / "benchmarks" / "RESULTS.md"
    if not path.exists():
        path.write_text("# Benchmark results\n")
    with open(path, "a") as fh:
        fh.write(text)
    print(f"appended to {path}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

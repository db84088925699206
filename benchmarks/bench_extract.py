"""End-to-end feature extraction speed (frames/s) against decode-only and landmarks-only.

Clips: the real 640x360 H.264 face clip (tests/data/WolfgangLanger_Pexels.mp4) and the same
padded to 640x480 (H.264, 2 s GOP). TV-L1 runs on a short subrange only (it is ~100x slower).
Target (issue #3): DIS >= 60 frames/s end to end.
Run: python benchmarks/bench_extract.py [--frames N] [--append-results]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_video_access import _append, make_640x480  # noqa: E402
from pfes_core.face import track_frames  # noqa: E402
from pfes_core.features import FeatureParams, extract_features  # noqa: E402
from pfes_core.video import open_video  # noqa: E402
from video_helpers import WOLFGANG, write_video  # noqa: E402


def cut(src: Path, dst: Path, n: int) -> Path:
    reader = open_video(src)
    return write_video(dst, list(reader.iter_frames(0, min(n, reader.n_frames))),
                       fps=round(reader.fps), gop=round(2 * reader.fps))


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads)."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def bench_clip(path: Path, variants: list[tuple[str, FeatureParams]], tvl1_frames: int) -> list:
    reader = open_video(path)
    n = reader.n_frames
    rows = []
    rows.append(("decode only", n, *timed(lambda: sum(1 for _ in reader.iter_frames()))))
    rows.append(("decode + landmarks every frame", n,
                 *timed(lambda: track_frames(reader.iter_frames(), n, reader.fps))))
    rows.append(("decode + landmarks every 2nd frame", n,
                 *timed(lambda: track_frames(reader.iter_frames(), n, reader.fps, every=2))))
    for name, params in variants:
        rows.append((f"extract, {name}", n, *timed(lambda: extract_features(path, params))))
    with tempfile.TemporaryDirectory() as tmp:
        short = cut(path, Path(tmp) / "short.mp4", tvl1_frames)
        rows.append(("extract, TV-L1 (landmarks every 2nd)", tvl1_frames,
                     *timed(lambda: extract_features(short, FeatureParams(flow="tvl1")))))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=240, help="frames per clip (from the start)")
    ap.add_argument("--tvl1-frames", type=int, default=24)
    ap.add_argument("--append-results", action="store_true")
    args = ap.parse_args()
    variants = [("DIS medium, landmarks every frame", FeatureParams(landmark_every=1)),
                ("DIS medium, landmarks every 2nd (default)", FeatureParams()),
                ("DIS fast, landmarks every 2nd", FeatureParams(dis_preset="fast"))]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        clips = {"640x360": cut(WOLFGANG, Path(tmp) / "c360.mp4", args.frames),
                 "640x480": make_640x480(Path(tmp) / "c480.mp4", n=args.frames)}
        results = {size: bench_clip(p, variants, args.tvl1_frames) for size, p in clips.items()}
    load1 = os.getloadavg()[0]
    lines = [f"Clips: real face, H.264, first {args.frames} frames; TV-L1 on {args.tvl1_frames} "
             f"frames. Load average {load0:.1f} before, {load1:.1f} after "
             f"({time.perf_counter() - t0:.0f} s).", "",
             "frames/s = frames / wall time on this (shared) machine; CPU ms/frame = process CPU "
             "time (all threads) per frame, the load-independent cost: 1000 / it is the frames/s "
             "one idle core would give.", "",
             "| clip | pipeline | frames | frames/s (wall) | CPU ms/frame | 1000/CPU ms | "
             "time vs decode only | time vs landmarks only |",
             "|---|---|---|---|---|---|---|---|"]
    for size, rows in results.items():
        dec, lm = rows[0][3] / rows[0][1], rows[1][3] / rows[1][1]
        for name, n, wall, cpu in rows:
            per = cpu / n
            lines.append(f"| {size} | {name} | {n} | {n / wall:.1f} | {per * 1000:.1f} | "
                         f"{1 / per:.0f} | {per / dec:.1f}x | {per / lm:.2f}x |")
    table = "\n".join(lines)
    print(table)
    if args.append_results:
        _append("Feature extraction speed (bench_extract.py)", table,
                f"python benchmarks/bench_extract.py --frames {args.frames} --append-results")
    return 0


if __name__ == "__main__":
    sys.exit(main())

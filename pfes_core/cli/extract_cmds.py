"""`pfes extract`: compute (or reuse) the features of a project's videos, several in parallel.

Workers are spawned processes (never forked: HDF5 and Qt handles must not be inherited); they send
progress over a queue and the parent prints it as bars or JSON lines. A video's features file is
only ever renamed into place complete, so Ctrl-C or a crashed worker leaves the old file or none.
Workers stop between frames when the parent is interrupted (a shared event) and exit on their
own within seconds when the parent dies (SIGKILL included), see `pfes_core.lifeline`.
`--engine ray` runs `_extract_one` as one Ray task per video instead (`pfes_core.engine`);
`--shard K/N` takes one share of the videos (`pfes_core.engine.shards`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue as queue_mod
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from ..engine import add_engine_options, ray_engine_for
from ..engine.shards import select_videos
from ..errors import CancelledError, PfesError, ProjectError

_QUEUE = None   # set in spawned workers by _init_worker
_CANCEL = None  # in workers: callable, true once the parent asked to stop or died


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "extract", help="extract landmarks and motion features of a project's videos",
        description="Compute features/<video-id>.h5 for each video (reused when up to date).")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--videos", nargs="+", metavar="ID", default=None,
                   help="only these video ids (default: all)")
    p.add_argument("--shard", metavar="K/N", default=None,
                   help="only share K of N (balanced by frames; for job arrays, docs/cluster.md)")
    p.add_argument("--jobs", type=int, default=1, help="videos extracted in parallel (processes)")
    p.add_argument("--flow", choices=("dis", "tvl1"), default=None,
                   help="optical flow: dis (default, fast) or tvl1 (reference, ~100x slower); "
                        "given, features made otherwise are recomputed")
    p.add_argument("--dis-preset", choices=("ultrafast", "fast", "medium"), default=None)
    p.add_argument("--landmark-every", type=int, default=None, metavar="N",
                   help="track landmarks on every N-th frame, interpolate between (speed)")
    p.add_argument("--progress", choices=("bar", "jsonl", "none"), default="bar")
    p.add_argument("--force", action="store_true", help="recompute even if up to date")
    add_engine_options(p, "video")
    p.set_defaults(func=cmd_extract)


def _params_from_args(args):
    from ..features import FeatureParams

    given = {k: v for k, v in (("flow", args.flow), ("dis_preset", args.dis_preset),
                               ("landmark_every", args.landmark_every)) if v is not None}
    return FeatureParams(**given) if given else None


def _init_worker(q, stop=None, parent_pid: int | None = None) -> None:
    """Worker setup: progress queue, cancel on the parent's `stop` event, on SIGTERM/SIGINT (the
    parent handles Ctrl-C) and when the parent dies."""
    global _QUEUE, _CANCEL
    _QUEUE = q
    if stop is None:
        return
    from ..lifeline import exit_with_parent, hard_exit_later

    local = threading.Event()
    _CANCEL = lambda: local.is_set() or stop.is_set()  # noqa: E731

    def terminated(signum, frame):  # noqa: ARG001 - also what the parent's death sends (Linux)
        local.set()
        hard_exit_later(2.0)

    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGINT, lambda signum, frame: local.set())
    exit_with_parent(parent_pid, on_death=local.set)


@contextlib.contextmanager
def _sigint_flag():
    """Yields an Event that Ctrl-C sets (as well as raising KeyboardInterrupt as usual).

    Why: a KeyboardInterrupt raised while a C extension (decoder, landmarker) is running can be
    swallowed by it, and extraction then ran to the end. The flag survives; extraction checks it
    between frames."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        flag.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _extract_one(root: str, video_id: str, params: dict | None, force: bool) -> tuple[str, str, bool]:
    """Worker: returns (video id, features path, whether it was (re)computed)."""
    from ..features import FeatureParams, ensure_features

    q = _QUEUE

    def forward(event: dict) -> None:
        if q is not None:
            q.put(event)

    path = Path(root) / "features" / f"{video_id}.h5"
    before = path.stat().st_mtime_ns if path.exists() else None
    out = ensure_features(root, video_id, FeatureParams.from_dict(params) if params else None,
                          progress=forward, force=force, cancel=_CANCEL)
    after = out.stat().st_mtime_ns
    return video_id, str(out), before != after


def cmd_extract(args) -> int:
    from ..progress import ProgressReporter
    from ..project import Project

    reporter = ProgressReporter(args.progress)
    with Project.open(args.project, readonly=True) as project:
        root = str(project.root)
        features_dir = project.features_dir
        frames = {v: int(r.n_frames or 0) for v, r in project.videos.items()}
    if not frames:
        raise ProjectError(f"project {root} has no videos (add some with `pfes add-video`)")
    ids = select_videos(frames, args.videos, args.shard)
    if args.engine == "ray" and args.jobs != 1:
        raise PfesError("--jobs is for the local engine; with --engine ray the cluster's CPUs decide")
    ray_engine = ray_engine_for(args)
    params = _params_from_args(args)
    pdict = params.to_dict() if params else None
    jsonl = args.progress == "jsonl"

    def show(event: dict) -> None:
        stage = "extract" if jsonl or args.progress == "none" else f"extract {event['video']}"
        reporter.emit(stage, step=event.get("step"), total=event.get("total"),
                      video=event["video"], **{k: v for k, v in event.items()
                                               if k not in ("stage", "step", "total", "video")})

    t0 = time.monotonic()
    failures: dict[str, str] = {}
    done: list[str] = []

    def finished(vid: str, out: str, computed: bool) -> None:
        done.append(vid)
        if jsonl:
            reporter.emit("extract", video=vid, status="computed" if computed else "up to date",
                          path=out, videos_done=len(done), videos_total=len(ids))
        elif args.progress != "none":
            print(f"{vid}: {'extracted' if computed else 'up to date'} -> {out}")

    def failed(vid: str, exc: BaseException) -> None:
        msg = str(exc) if isinstance(exc, PfesError) else f"{type(exc).__name__}: {exc}"
        failures[vid] = msg
        if jsonl:
            reporter.emit("extract", video=vid, status="failed", message=msg)
        elif args.progress != "none":
            print(f"{vid}: failed: {msg}")

    jobs = max(1, min(int(args.jobs), len(ids)))
    if not ids:
        pass                        # an empty share: nothing to do
    elif ray_engine is not None:
        ray_engine.extract(root, features_dir, ids, frames, pdict, args.force, show, finished,
                           lambda vid, message: failed(vid, PfesError(message)))
    elif jobs == 1:
        from ..features import FeatureParams, ensure_features

        _init_worker(None)
        with _sigint_flag() as interrupted:
            for vid in ids:
                try:
                    path = Path(root) / "features" / f"{vid}.h5"
                    before = path.stat().st_mtime_ns if path.exists() else None
                    out = ensure_features(root, vid, FeatureParams.from_dict(pdict) if pdict else None,
                                          progress=show, force=args.force, cancel=interrupted)
                    finished(vid, str(out), before != out.stat().st_mtime_ns)
                except CancelledError:
                    raise KeyboardInterrupt from None
                except PfesError as exc:
                    failed(vid, exc)
    else:
        ctx = multiprocessing.get_context("spawn")
        q = ctx.Queue()
        stop = ctx.Event()
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                   initargs=(q, stop, os.getpid()))
        try:
            pending = {pool.submit(_extract_one, root, vid, pdict, args.force): vid for vid in ids}
            while pending:
                ready, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(q, show)
                for fut in ready:
                    vid = pending.pop(fut)
                    try:
                        finished(*fut.result())
                    except Exception as exc:  # noqa: BLE001  (a worker's error or crash)
                        failed(vid, exc)
            _drain(q, show)
        except KeyboardInterrupt:
            stop.set()      # running workers stop at their next frame
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    reporter.close()
    elapsed = time.monotonic() - t0
    if failures:
        message = "; ".join(f"{v}: {m}" for v, m in failures.items())
        if jsonl:
            reporter.emit("error", message=f"{len(failures)} of {len(ids)} videos failed: {message}")
        raise _ExtractFailed(f"{len(failures)} of {len(ids)} videos failed: {message}")
    if jsonl:
        reporter.emit("done", videos=len(ids), seconds=round(elapsed, 2))
    elif args.progress != "none":
        print(f"features of {len(ids)} videos ready in {elapsed:.1f} s")
    return 0


class _ExtractFailed(PfesError):
    """Some videos could not be extracted (the others were)."""


def _drain(q, show) -> None:
    while True:
        try:
            event = q.get_nowait()
        except (queue_mod.Empty, OSError, ValueError):
            return
        show(event)

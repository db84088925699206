"""The Ray engine: extraction and spotting as one Ray task per video, training as one task per fold.

The tasks run the functions the local engine runs (`cli.extract_cmds._extract_one`,
`training.train_fold`, `inference.predict_video`), on a file system every node shares at the same
path; so the results are the local engine's (features bit-identical; predictions equal within
float tolerance: a task's thread count may differ).

- Files: features and checkpoints are written by the project's atomic writers (temp file beside
  the target, renamed when complete), so a task that is killed leaves the old file or none. Ray
  runs a task again (`MAX_RETRIES`) when its worker or node dies; the driver removes temp files a
  killed attempt left beside a video's features once that video's task has settled.
- Resources: an extraction task asks for 1 CPU and memory for its video's frames
  (`extract_memory`); a fold asks for 1 GPU where the cluster has GPUs, else its share of the
  largest node's CPUs; a spotting task 1 CPU.
- Progress: tasks batch their progress events to a `ProgressSink` actor; the driver drains it
  while it waits and hands the events to the command's reporter (`--progress jsonl` / the bar),
  tagged with the host and process that made them.
- Cancel: Ctrl-C / SIGTERM / the training cancel event cancel every pending task (force: the
  worker is killed, which the atomic writes make safe) and raise as the local engine does.
- Errors: a task's error comes back as a one-line message naming its video or fold; a lost
  cluster is a `ClusterError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Callable

from ..errors import CancelledError, PfesError, TrainingError
from . import INSTALL_HINT, ClusterError

POLL_S = 0.2            # driver: how often it drains progress and checks for cancel
FLUSH_S = 0.25          # task: how often it sends its batched progress events
MAX_RETRIES = 2         # runs of a task again after its worker or node died
CONNECT_TIMEOUT_S = 5.0
EXTRACT_BASE_BYTES = 512 * 2**20    # landmarker, decoder and flow state of one extraction
EXTRACT_FRAME_BYTES = 4096          # features of one frame held until they are written

_address: str | None = None


def _ray():
    try:
        import ray
    except ImportError:
        raise ClusterError(f"--engine ray needs Ray, which is not installed here: {INSTALL_HINT}") from None
    return ray


def _check_reachable(address: str) -> None:
    """A plain TCP connect first: Ray's own connect retries for a long time before it fails."""
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"--ray-address takes auto, HOST:PORT or ray://HOST:PORT (got {address!r})")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ClusterError(f"cannot reach the Ray cluster at {address} ({reason}); is its head "
                           f"running (`ray start --head`, docs/cluster.md)?") from None


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at `address` (auto, HOST:PORT, ray://HOST:PORT; None: RAY_ADDRESS, or
    a Ray instance started here for this command). Reuses a connection this process already has."""
    global _address
    ray = _ray()
    if ray.is_initialized():
        _address = _address or "the Ray instance this process joined"
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address and address != "auto":
        _check_reachable(address)
    previous = signal.getsignal(signal.SIGTERM) if _main_thread() else None
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=True,
                 logging_level=logging.ERROR, **({} if address else {"include_dashboard": False}))
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"at {address}" if address else "on this machine"
        raise ClusterError(f"cannot connect to a Ray cluster {where}: {_first_line(exc)}") from None
    finally:
        if previous is not None:    # ray.init installs its own SIGTERM handler; ours cancels cleanly
            signal.signal(signal.SIGTERM, previous)
    _address = address or "a local Ray instance"


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _first_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0][:300]
    return text or type(exc).__name__


# ----------------------------------------------------------------------------- progress


def _new_sink():
    ray = _ray()

    @ray.remote(num_cpus=0)
    class ProgressSink:
        """Events from every task, in arrival order, until the driver drains them."""

        def __init__(self):
            self.events: list[dict] = []

        def put(self, events: list[dict]) -> None:
            self.events.extend(events)

        def drain(self) -> list[dict]:
            out, self.events = self.events, []
            return out

    return ProgressSink.remote()


class _Forward:
    """In a task: its progress events, batched to the driver's sink (callable, or as a queue)."""

    def __init__(self, sink):
        self.sink = sink
        self.buffer: list[dict] = []
        self.last = 0.0
        self.tag = {"host": socket.gethostname(), "pid": os.getpid()}

    def __call__(self, event: dict) -> None:
        self.buffer.append({**{k: v for k, v in event.items() if k != "t"}, **self.tag})
        if time.monotonic() - self.last >= FLUSH_S:
            self.flush()

    put = __call__          # the multiprocessing-queue interface `_extract_one` reports to

    def flush(self, wait: bool = False) -> None:
        if self.sink is None or not self.buffer:
            return
        ref = self.sink.put.remote(self.buffer)
        self.buffer, self.last = [], time.monotonic()
        if wait:
            _ray().get(ref)


# ----------------------------------------------------------------------------- the driver loop


def _failure_message(exc: BaseException) -> str:
    ray = _ray()
    cause = getattr(exc, "cause", None)
    if isinstance(exc, ray.exceptions.RayTaskError) and cause is not None:
        return str(cause) if isinstance(cause, PfesError) else f"{type(cause).__name__}: {_first_line(cause)}"
    if isinstance(exc, ray.exceptions.WorkerCrashedError):
        return f"its worker process died {MAX_RETRIES + 1} times (killed, or out of memory)"
    if isinstance(exc, ray.exceptions.NodeDiedError):
        return "the node running it left the cluster"
    return _first_line(exc)


def _is_connection_loss(exc: BaseException) -> bool:
    ray = _ray()
    return isinstance(exc, (ConnectionError, ray.exceptions.RaySystemError,
                            ray.exceptions.ActorUnavailableError, ray.exceptions.ActorDiedError)) \
        and not isinstance(exc, ray.exceptions.RayTaskError)


def _lost(exc: BaseException) -> ClusterError:
    return ClusterError(f"lost the connection to the Ray cluster ({_address}): {_first_line(exc)}")


def gather(pending: dict, sink, on_event: Callable[[dict], None], on_result: Callable,
           on_failure: Callable[[str, str], None], cancel=None,
           on_settled: Callable[[str], None] | None = None) -> None:
    """Wait for every task in `pending` ({ObjectRef: name}); results, failures and progress go to
    the callbacks as they arrive. Cancel (`cancel.is_set()`, Ctrl-C) cancels what is left. The
    cluster going away (its head, or the node of the progress actor) is a ClusterError."""
    ray = _ray()
    pending = dict(pending)

    def wait_and_drain(refs: list) -> list:
        try:
            ready = ray.wait(refs, num_returns=len(refs), timeout=POLL_S)[0] if refs else []
            if sink is not None:
                for event in ray.get(sink.drain.remote()):
                    on_event(event)
        except (ray.exceptions.RayError, ConnectionError) as exc:
            raise _lost(exc) from None
        return ready

    try:
        while pending:
            if cancel is not None and cancel.is_set():
                raise CancelledError("cancelled")
            for ref in wait_and_drain(list(pending)):
                name = pending.pop(ref)
                try:
                    value = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    if _is_connection_loss(exc):
                        raise _lost(exc) from None
                    on_failure(name, _failure_message(exc))
                else:
                    on_result(name, value)
                if on_settled is not None:
                    on_settled(name)
        wait_and_drain([])
    except (KeyboardInterrupt, CancelledError):
        cancel_all(pending, on_settled)
        raise


def cancel_all(pending: dict, on_settled: Callable[[str], None] | None = None,
               wait_s: float = 10.0) -> None:
    """Cancel the tasks (their workers are killed) and wait until Ray has stopped them."""
    ray = _ray()
    for ref in pending:
        with contextlib.suppress(Exception):
            ray.cancel(ref, force=True)
    with contextlib.suppress(Exception):
        ray.wait(list(pending), num_returns=len(pending), timeout=wait_s)
    if on_settled is not None:
        for name in pending.values():
            on_settled(name)


# ----------------------------------------------------------------------------- extraction


def extract_memory(frames: int) -> int:
    """Bytes one extraction task asks the scheduler for: its video's features stay in memory
    until they are written."""
    return EXTRACT_BASE_BYTES + max(int(frames), 0) * EXTRACT_FRAME_BYTES


def _extract_task(root: str, video_id: str, params: dict | None, force: bool, sink):
    from ..cli import extract_cmds

    forward = _Forward(sink)
    extract_cmds._QUEUE, extract_cmds._CANCEL = forward, None
    try:
        return extract_cmds._extract_one(root, video_id, params, force)
    finally:
        forward.flush(wait=True)


def remove_partial_files(features_dir: Path, video_id: str) -> None:
    """Temp files a killed attempt left beside `video_id`'s features (pfes_core.atomic names)."""
    from ..features import features_path

    target = features_path(Path(features_dir), video_id)
    for tmp in target.parent.glob(f".{target.name}.*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()


def extract(root: str, features_dir: Path, video_ids: list[str], frames: dict[str, int],
            params: dict | None, force: bool, show, finished, failed, cancel=None) -> None:
    """Extract the videos as Ray tasks; `show(event)`, `finished(vid, path, computed)` and
    `failed(vid, message)` are the command's own reporting callbacks; `cancel` (an Event, as
    Ctrl-C does) cancels the tasks and raises CancelledError."""
    ray = _ray()
    sink = _new_sink()
    task = ray.remote(_extract_task)
    pending = {}
    for vid in video_ids:
        ref = task.options(num_cpus=1, memory=extract_memory(frames.get(vid, 0)),
                           max_retries=MAX_RETRIES, retry_exceptions=False,
                           name=f"pfes extract {vid}").remote(root, vid, params, force, sink)
        pending[ref] = vid
    gather(pending, sink, show, lambda vid, result: finished(*result), failed, cancel=cancel,
           on_settled=lambda vid: remove_partial_files(features_dir, vid))


# ----------------------------------------------------------------------------- spotting


def _predict_task(root: str, video_id: str, checkpoint: str):
    from .. import runs
    from ..feature_stream import open_features
    from ..inference import pick_device, predict_members

    feats = open_features(root, video_id)
    if feats is None:
        return None
    device = pick_device("auto")
    return predict_members(runs.load_members(Path(checkpoint), device), feats, device=device)


def predict(root: str, jobs: list[tuple[str, Path]], on_done: Callable[[str, object], None]) -> dict[str, str]:
    """Predict each (video, checkpoint) as a Ray task; `on_done(video, (intensity, apex) | None)`
    as each finishes (None: no up-to-date features). Returns {video: error} of failed tasks."""
    ray = _ray()
    task = ray.remote(_predict_task)
    pending = {task.options(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False,
                            name=f"pfes spot {vid}").remote(root, vid, str(ckpt)): vid
               for vid, ckpt in jobs}
    failures: dict[str, str] = {}
    gather(pending, None, lambda e: None, on_done, failures.__setitem__)
    return failures


# ----------------------------------------------------------------------------- evaluation


def _evaluate_task(project: str, run_id: str | None, include_unreferenced: bool, protocol: str):
    from ..cli.eval_cmds import evaluate_run

    return evaluate_run(project, run_id, include_unreferenced, protocol)


def evaluate(project: str, run_id: str | None, include_unreferenced: bool, protocol: str = "megc"):
    """`evaluate_run` as one Ray task (scoring is light; it runs where the cluster reads the run)."""
    ray = _ray()
    ref = ray.remote(_evaluate_task).options(num_cpus=1, max_retries=MAX_RETRIES,
                                             retry_exceptions=False, name="pfes evaluate").remote(
        str(Path(project).resolve()), run_id, include_unreferenced, protocol)
    out: dict = {}
    errors: dict = {}
    gather({ref: "evaluate"}, None, lambda e: None, out.__setitem__, errors.__setitem__)
    if errors:
        raise PfesError(f"evaluation task failed: {errors['evaluate']}")
    return out["evaluate"]


# ----------------------------------------------------------------------------- training folds


def _fold_task(run_dir: str, config, job: dict, common: dict, sink, threads: int):
    import torch

    from ..progress import ProgressReporter
    from ..training import train_fold

    torch.set_num_threads(max(1, int(threads)))
    forward = _Forward(sink)
    try:
        return train_fold(Path(run_dir), config=config, reporter=ProgressReporter("none", callback=forward),
                          **job, **common)
    finally:
        forward.flush(wait=True)


def fold_resources(n_folds: int) -> dict:
    """1 GPU per fold where the cluster has GPUs; else the folds share the largest node's CPUs."""
    ray = _ray()
    if ray.cluster_resources().get("GPU", 0) >= 1:
        return {"num_gpus": 1, "num_cpus": 1}
    node_cpus = [n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    largest = int(max(node_cpus, default=1))
    total = int(ray.cluster_resources().get("CPU", 1))
    return {"num_cpus": max(1, min(largest, total // max(n_folds, 1)))}


def _fold_name(fold) -> str:
    return "the model" if fold is None else f"fold {fold}"


def run_folds(run_dir: Path, config, jobs: list[dict], common: dict, reporter, cancel=None) -> list:
    """`training.run_training`'s fold runner: one Ray task per fold; progress renumbered into one
    bar across the folds running at once. Raises TrainingError naming each failed fold (the folds
    that finished keep their checkpoints: `pfes train --resume` continues the rest)."""
    ray = _ray()
    resources = fold_resources(len(jobs))
    sink = _new_sink()
    task = ray.remote(_fold_task)
    pending = {}
    for k, job in enumerate(jobs):
        ref = task.options(max_retries=MAX_RETRIES, retry_exceptions=False,
                           name=f"pfes train {_fold_name(job['fold'])}", **resources).remote(
            str(run_dir), config, job, common, sink, resources["num_cpus"])
        pending[ref] = k
    where = "1 GPU" if resources.get("num_gpus") else f"{resources['num_cpus']} CPU(s)"
    reporter.emit("train", message=f"{len(jobs)} Ray task(s) on {_address}, {where} each")

    offsets = {job["fold"]: job["step_offset"] for job in jobs}
    done: dict = {}
    predicted = [0]
    t0 = time.monotonic()
    total = common["total_steps"]

    def on_event(event: dict) -> None:
        event = dict(event)
        stage = event.pop("stage", "train")
        step = event.pop("step", None)
        event.pop("total", None)
        if stage == "train" and step is not None:
            fold = event.get("fold")
            done[fold] = step - offsets.get(fold, 0)
            steps = sum(done.values())
            rate = (time.monotonic() - t0) / max(steps, 1)
            event["eta"] = round(rate * (total - steps), 1)
            reporter.emit("train", step=steps, total=total, **event)
        elif stage == "predict" and step is not None:
            predicted[0] += 1
            reporter.emit("predict", step=predicted[0], total=common["predict_total"], **event)
        else:
            reporter.emit(stage, step=step, **event)

    results: dict[int, tuple] = {}
    failures: dict[int, str] = {}
    gather(pending, sink, on_event, results.__setitem__, failures.__setitem__, cancel=cancel)
    if failures:
        raise TrainingError("; ".join(f"{_fold_name(jobs[k]['fold'])} failed: {m}"
                                      for k, m in sorted(failures.items())))
    return [results[k] for k in range(len(jobs))]


__all__ = ["connect", "gather", "cancel_all", "extract", "predict", "evaluate", "run_folds",
           "fold_resources", "extract_memory", "remove_partial_files", "MAX_RETRIES"]

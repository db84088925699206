"""Per-video features (landmarks, ROI motion, model input) and their cache features/<video-id>.h5.

Why a cache: extraction costs ~15 ms a frame, training reads the features many times. A cache
file is valid only for the exact parameters and the exact video content (fingerprint) it was made
from; it is written to a temporary file and renamed, so a crash or Ctrl-C never leaves half a
file under the real name.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import atomic
from .errors import CancelledError, FeatureError, ProjectError

# Bump when the extraction algorithm changes in a way that changes its output: old caches go stale.
FEATURE_VERSION = 1
H5_FORMAT = "pfes-features"
# Units stored with each array of a features file (frames are rows: reader frames after the step).
FEATURE_UNITS = {"landmarks": "pixels (x, y) in the full frame",
                 "face_found": "bool (False: landmarks interpolated)",
                 "roi_vectors": "face-crop pixels / 20 (flow clipped to +-10 px: -0.5 to 0.5), "
                                "motion from frame t-1 to t",
                 "model_input": "face-crop pixels / 20 (-0.5 to 0.5), flow accumulated from the "
                                "window's first frame"}


@dataclass(frozen=True)
class FeatureParams:
    """Extraction parameters; stored (as JSON) with the features and compared on reuse.

    flow: "dis" (fast, default) or "tvl1" (the reference's TV-L1, ~100x slower).
    dis_preset: DIS quality preset "ultrafast" | "fast" | "medium".
    landmark_every: run the landmarker on every n-th frame and interpolate between. Default 2:
        it halves the dominant cost (MediaPipe) for a 0.4 px mean (1.3 px p95) ROI-centre error
        in the 230 px crop, below the landmarks' own frame-to-frame jitter (~1.2 px); see
        benchmarks/RESULTS.md. Use 1 for METHOD.md's literal every-frame tracking.
    crop: side of the aligned face crop in pixels; drift: re-anchor threshold (x eye distance).
    """

    flow: str = "dis"
    dis_preset: str = "medium"
    landmark_every: int = 2
    crop: int = 230
    drift: float = 0.25
    version: int = FEATURE_VERSION

    def __post_init__(self):
        if self.flow not in ("dis", "tvl1"):
            raise FeatureError(f"unknown flow method {self.flow!r} (expected dis or tvl1)")
        if self.dis_preset not in ("ultrafast", "fast", "medium"):
            raise FeatureError(f"unknown DIS preset {self.dis_preset!r}")
        if int(self.landmark_every) < 1:
            raise FeatureError("landmark_every must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureParams":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Features:
    """Features of one video; arrays are indexed by reader frame (after the video's step)."""

    landmarks: np.ndarray          # (T, 68, 2) float32, pixels, zero-based 68-point indices
    face_found: np.ndarray         # (T,) bool, False where landmarks were interpolated
    roi_vectors: np.ndarray        # (T, 12, 2) float32 in [-0.5, 0.5], motion t-1 -> t
    model_input: np.ndarray        # (T, 17, 10, 2) float32 in [-0.5, 0.5]
    params: dict
    fingerprint: str
    n_frames: int
    fps: float
    step: int = 1
    video_id: str = ""
    extra: dict = field(default_factory=dict)


class _Progress:
    """Throttled progress: at most ~100 events a video, whatever its length."""

    def __init__(self, progress, video: str, total: int):
        self.progress, self.video, self.total = progress, video, total
        self.every = max(1, total // 100)
        self.last = -1

    def __call__(self, step: int, phase: str) -> None:
        if self.progress is None:
            return
        if step - self.last >= self.every or step >= self.total:
            self.last = step
            if callable(getattr(self.progress, "emit", None)):
                self.progress.emit("extract", step=step, total=self.total, video=self.video,
                                   phase=phase)
            else:
                self.progress({"stage": "extract", "step": step, "total": self.total,
                               "video": self.video, "phase": phase})


def _ahead(frames, depth: int = 8):
    """Decode on a helper thread while the caller works on earlier frames.

    PyAV, MediaPipe and OpenCV release the GIL in their native code, so decoding overlaps with
    landmark tracking and optical flow instead of adding to them.
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in frames:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # noqa: BLE001  (re-raised in the consumer)
            q.put(exc)

    thread = threading.Thread(target=work, daemon=True, name="frame-decoder")
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _cancel_fn(cancel) -> Callable[[], bool] | None:
    if cancel is None:
        return None
    if hasattr(cancel, "is_set"):
        return cancel.is_set
    return cancel


def extract_features(video_path, params: FeatureParams | None = None, step: int = 1,
                     progress=None, cancel=None, video_id: str = "",
                     fps: float | None = None) -> Features:
    """Extract landmarks and motion features of a video file or image folder.

    Two decoding passes: landmarks first (the crop needs the whole track to fill gaps and fix
    the box), then flow on the aligned crops. `progress`: a ProgressReporter (or a callable taking
    an event dict); `cancel`: a callable or threading.Event; `fps`: frame rate of an image
    folder (files carry their own; MediaPipe's tracking filter uses the timestamps).
    Raises VideoError / NoFaceError / CancelledError.
    """
    from .face import track_frames
    from .motion import MotionExtractor
    from .video import open_video, video_fingerprint

    params = params or FeatureParams()
    cancelled = _cancel_fn(cancel)
    path = Path(video_path)
    fingerprint = video_fingerprint(path)
    reader = open_video(path, step=step, fps=fps)
    try:
        T = reader.n_frames
        report = _Progress(progress, video_id or path.name, 2 * T)
        landmarks, found = track_frames(
            _ahead(reader.iter_frames()), T, reader.fps, name=path.name, every=int(params.landmark_every),
            progress=lambda i, n: report(i, "landmarks"), cancel=cancelled)
        motion = MotionExtractor(landmarks, flow=params.flow, dis_preset=params.dis_preset,
                                 crop=int(params.crop), drift=float(params.drift))
        for i, rgb in enumerate(_ahead(reader.iter_frames())):
            if cancelled is not None and cancelled():
                raise CancelledError("feature extraction cancelled")
            motion.push(rgb)
            report(T + i + 1, "motion")
        roi_vectors, model_input = motion.finish()
        return Features(landmarks=landmarks.astype(np.float32), face_found=found,
                        roi_vectors=roi_vectors, model_input=model_input,
                        params=params.to_dict(), fingerprint=fingerprint, n_frames=T,
                        fps=float(reader.fps), step=int(step), video_id=video_id,
                        extra={"n_crop_segments": int(motion.segments.max() + 1),
                               "face_found_fraction": float(found.mean())})
    finally:
        reader.close()


# -- project access ----------------------------------------------------------------------------
@dataclass
class _VideoRef:
    video_id: str
    path: Path
    step: int
    fingerprint: str
    features_dir: Path
    fps: float | None
    n_frames: int | None = None      # reader frames (after step) the registered video has


def _video_ref(project_or_root, video_id: str) -> _VideoRef:
    """Read what extraction needs from an open Project or a project folder (opened read-only)."""
    if hasattr(project_or_root, "video_path") and hasattr(project_or_root, "features_dir"):
        return _ref_from_project(project_or_root, video_id)
    from .project import Project

    with Project.open(project_or_root, readonly=True) as project:
        return _ref_from_project(project, video_id)


def _ref_from_project(project, video_id: str) -> _VideoRef:
    record = project.videos.get(video_id)
    if record is None:
        raise ProjectError(f"unknown video {video_id!r} in project {project.root}")
    step = int(record.step or 1)
    n_raw = int(record.n_frames or 0)
    return _VideoRef(video_id, Path(project.video_path(video_id)), step,
                     str(record.fingerprint or ""), Path(project.features_dir),
                     float(record.fps) if record.fps else None,
                     (n_raw + step - 1) // step if n_raw > 0 else None)


def features_path(features_dir: Path, video_id: str) -> Path:
    """features/<video>.h5; a video id that would lead elsewhere is refused (pfes_core.safe_paths)."""
    from .safe_paths import inside, safe_id

    return inside(features_dir, f"{safe_id(video_id)}.h5")


def save_features(path: Path, feats: Features) -> Path:
    """Write features atomically (`pfes_core.atomic`: temp file, fsync, rename, umask mode)."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_target(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["format"] = H5_FORMAT
            h5.attrs["params"] = json.dumps(feats.params, sort_keys=True)
            h5.attrs["fingerprint"] = feats.fingerprint
            h5.attrs["n_frames"] = int(feats.n_frames)
            h5.attrs["fps"] = float(feats.fps)
            h5.attrs["step"] = int(feats.step)
            h5.attrs["video_id"] = feats.video_id
            h5.attrs["extra"] = json.dumps(feats.extra, sort_keys=True)
            h5.attrs["created"] = time.time()
            opts = dict(compression="gzip", compression_opts=4, shuffle=True)
            h5.create_dataset("landmarks", data=feats.landmarks.astype(np.float32), **opts)
            h5.create_dataset("face_found", data=feats.face_found.astype(bool))
            h5.create_dataset("roi_vectors", data=feats.roi_vectors.astype(np.float32), **opts)
            chunk = (min(256, max(1, feats.n_frames)),) + feats.model_input.shape[1:]
            h5.create_dataset("model_input", data=feats.model_input.astype(np.float32),
                              chunks=chunk, **opts)
            for name, unit in FEATURE_UNITS.items():  # docs/PROJECT_FORMAT.md
                h5[name].attrs["units"] = unit
    return path


#: Per-frame shape of each dataset (the frame axis comes first).
_LAYOUT = {"landmarks": ((68, 2), "f"), "face_found": ((), "biu"), "roi_vectors": ((12, 2), "f"),
           "model_input": ((17, 10, 2), "f")}
#: More frames than any recording a lab spots in (a day at 100 fps): a file claiming more is
#: refused before anything is allocated.
MAX_FRAMES = 10_000_000


def _json_attr(h5, path: Path, name: str) -> dict:
    try:
        value = json.loads(h5.attrs[name])
    except RecursionError:
        raise FeatureError(f"features file {path} is damaged (attribute {name!r} is nested too "
                           f"deeply)") from None
    if not isinstance(value, dict):
        raise FeatureError(f"features file {path} is damaged (attribute {name!r} is not an object)")
    return value


def _check_layout(h5, path: Path, expected_frames: int | None) -> int:
    """Frame count of an open features file after checking, from metadata only, that every
    dataset has it and the right per-frame shape and type (nothing is read or allocated)."""
    try:
        n = int(h5.attrs["n_frames"])
    except (KeyError, TypeError, ValueError, OverflowError):
        raise FeatureError(f"features file {path} is damaged (no valid n_frames)") from None
    if not 0 < n <= MAX_FRAMES:
        raise FeatureError(f"features file {path} is damaged (n_frames {n} is outside "
                           f"1..{MAX_FRAMES})")
    if expected_frames is not None and n != int(expected_frames):
        raise FeatureError(f"features file {path} has {n} frames but the video has "
                           f"{expected_frames} (damaged, or made for another video)")
    for name, (tail, kinds) in _LAYOUT.items():
        ds = h5.get(name)
        if ds is None or not hasattr(ds, "shape"):
            raise FeatureError(f"features file {path} is damaged (no {name} dataset)")
        if tuple(ds.shape) != (n, *tail) or ds.dtype.kind not in kinds:
            raise FeatureError(f"features file {path} is damaged ({name} is {ds.dtype} "
                               f"{tuple(ds.shape)}, expected {(n, *tail)})")
    return n


def read_features(path: Path, expected_frames: int | None = None) -> Features:
    """Read a features file; FeatureError when it is not one, is damaged, or (given
    `expected_frames`) does not have that many frames. Shapes are checked before reading."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            if h5.attrs.get("format") != H5_FORMAT:
                raise FeatureError(f"{path} is not a P-FES features file")
            n = _check_layout(h5, path, expected_frames)
            fps, step = float(h5.attrs["fps"]), int(h5.attrs["step"])
            if not (np.isfinite(fps) and fps > 0) or step < 1:
                raise FeatureError(f"features file {path} is damaged (fps {fps}, step {step})")
            feats = Features(
                landmarks=h5["landmarks"][()], face_found=h5["face_found"][()].astype(bool),
                roi_vectors=h5["roi_vectors"][()], model_input=h5["model_input"][()],
                params=_json_attr(h5, path, "params"), fingerprint=str(h5.attrs["fingerprint"]),
                n_frames=n, fps=fps, step=step, video_id=str(h5.attrs["video_id"]),
                extra=_json_attr(h5, path, "extra"))
    except FeatureError:
        raise
    except (OSError, KeyError, ValueError, TypeError, OverflowError) as exc:
        raise FeatureError(f"features file {path} is damaged ({exc})") from None
    for name in ("model_input", "roi_vectors"):
        if not np.isfinite(getattr(feats, name)).all():
            raise FeatureError(f"features file {path} is damaged ({name} has NaN or infinite "
                               f"values)")
    return feats


def _read_attrs(path: Path, expected_frames: int | None = None) -> dict | None:
    """What reuse compares (params, fingerprint, step); None when the file is not usable."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            if h5.attrs.get("format") != H5_FORMAT:
                return None
            _check_layout(h5, path, expected_frames)
            return {"params": _json_attr(h5, path, "params"),
                    "fingerprint": str(h5.attrs["fingerprint"]), "step": int(h5.attrs["step"])}
    except (OSError, KeyError, ValueError, TypeError, OverflowError, FeatureError):
        return None


def _params_match(stored: dict, wanted: FeatureParams | None) -> bool:
    if stored.get("version") != FEATURE_VERSION:
        return False
    return wanted is None or FeatureParams.from_dict(stored) == wanted


def ensure_features(project_or_root, video_id: str, params: FeatureParams | None = None,
                    progress=None, cancel=None, force: bool = False) -> Path:
    """Path of up-to-date features of `video_id`, extracting them when missing or stale.

    Reused when the stored video fingerprint matches the media now on disk, the step matches
    the project's, and the parameters equal `params` (with `params=None`, features made with any
    parameters of the current version are reused; new ones use the defaults).
    """
    from .video import video_fingerprint

    ref = _video_ref(project_or_root, video_id)
    out = features_path(ref.features_dir, video_id)
    if not force and out.exists():
        attrs = _read_attrs(out, ref.n_frames)
        if attrs is not None and attrs["step"] == ref.step and _params_match(attrs["params"], params) \
                and attrs["fingerprint"] == video_fingerprint(ref.path):
            return out
    feats = extract_features(ref.path, params or FeatureParams(), step=ref.step,
                             progress=progress, cancel=cancel, video_id=video_id,
                             fps=ref.fps if ref.path.is_dir() else None)
    return save_features(out, feats)


def _identity(path: Path) -> dict:
    """What decides staleness (params, fingerprint, step), from attributes only."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            if h5.attrs.get("format") != H5_FORMAT:
                raise FeatureError(f"{path} is not a P-FES features file")
            return {"params": _json_attr(h5, path, "params"),
                    "fingerprint": str(h5.attrs["fingerprint"]), "step": int(h5.attrs["step"])}
    except FeatureError:
        raise
    except (OSError, KeyError, ValueError, TypeError, OverflowError) as exc:
        raise FeatureError(f"features file {path} is damaged ({exc})") from None


def load_features(project_or_root, video_id: str) -> Features | None:
    """Features of `video_id`, or None when they are missing or stale (`pfes extract` makes them).

    Stale: made from other content than the video file now on disk (or, when it cannot be
    reached, than the registered record), with another step, or by an older extractor version.
    A file that is not stale but damaged, or whose frame count is not the video's, raises
    FeatureError: training or spotting on it would silently use the wrong frames.
    """
    found = current_features_file(project_or_root, video_id)
    if found is None:
        return None
    path, n_frames = found
    try:
        return read_features(path, n_frames)
    except FeatureError as exc:
        raise FeatureError(f"{exc}; `pfes extract` recomputes it") from None


def spotting_motion(roi_vectors) -> np.ndarray:
    """The motion spotting reads from a video's ``roi_vectors`` (T, 12, 2): the non-nose ROIs,
    ``(T, 10, 2)`` (`pfes_core.release_pairing`, `pfes_core.me_return`)."""
    from .face import NON_NOSE_ROIS

    return np.asarray(roi_vectors)[:, list(NON_NOSE_ROIS)]


def spotting_signals(features: Features) -> dict[str, np.ndarray]:
    """`spotting.propose`'s per-frame inputs besides the curves, from one video's features: the ROI
    motion and the head track (what `read_roi_motion` and `read_head_track` read from the file)."""
    from .head_motion import head_track

    return {"motion": spotting_motion(features.roi_vectors), "head": head_track(features.landmarks)}


def read_roi_motion(project_or_root, video_id: str) -> np.ndarray | None:
    """`spotting_motion` of `video_id`'s up-to-date features (the rules of `load_features`), or
    None when there are none. Reads that dataset only."""
    return _read_for_spotting(project_or_root, video_id, "roi_vectors", spotting_motion)


def read_head_track(project_or_root, video_id: str) -> np.ndarray | None:
    """`head_motion.head_track` of `video_id`'s up-to-date landmarks, or None when there are no
    features. Reads that dataset only."""
    from .head_motion import head_track

    return _read_for_spotting(project_or_root, video_id, "landmarks", head_track)


def _read_for_spotting(project_or_root, video_id: str, name: str, convert) -> np.ndarray | None:
    """`convert` of one dataset of the video's current features file; a damaged file is a
    FeatureError that says how to recompute it."""
    import h5py

    found = current_features_file(project_or_root, video_id)
    if found is None:
        return None
    path, n_frames = found
    try:
        with h5py.File(path, "r") as h5:
            _check_layout(h5, path, n_frames)
            out = convert(h5[name][()])
    except FeatureError as exc:
        raise FeatureError(f"{exc}; `pfes extract` recomputes it") from None
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise FeatureError(f"features file {path} is damaged ({exc}); `pfes extract` recomputes it") from None
    if not np.isfinite(out).all():
        raise FeatureError(f"features file {path} is damaged ({name} has NaN or infinite values); "
                           "`pfes extract` recomputes it")
    return out


def current_features_file(project_or_root, video_id: str) -> tuple[Path, int | None] | None:
    """(path, the video's frame count) of `video_id`'s features file when it is up to date, None
    when missing or stale (the rules of `load_features`); reads attributes only, so a reader
    that streams the data (`pfes_core.feature_stream`) decides staleness the same way."""
    ref = _video_ref(project_or_root, video_id)
    path = features_path(ref.features_dir, video_id)
    if not path.exists():
        return None
    try:
        ident = _identity(path)
    except FeatureError as exc:
        raise FeatureError(f"{exc}; `pfes extract` recomputes it") from None
    if ident["step"] != ref.step or ident["params"].get("version") != FEATURE_VERSION:
        return None
    from .video import video_fingerprint

    # The media now on disk decides; the registered record only when it is unreachable.
    try:
        current = video_fingerprint(ref.path)
    except Exception:  # noqa: BLE001
        current = ref.fingerprint
    if ident["fingerprint"] != current:
        return None
    return path, ref.n_frames


def feature_status(project_or_root, video_id: str) -> str:
    """'ok', 'missing', 'stale' or 'damaged' (for listings such as `pfes info`)."""
    ref = _video_ref(project_or_root, video_id)
    if not features_path(ref.features_dir, video_id).exists():
        return "missing"
    try:
        return "ok" if load_features(project_or_root, video_id) is not None else "stale"
    except FeatureError:
        return "damaged"


def describe(feats: Features) -> dict[str, Any]:
    """A JSON-able summary (shapes and face coverage) for logs and the CLI."""
    return {"video": feats.video_id, "n_frames": feats.n_frames, "fps": feats.fps,
            "face_found": float(np.mean(feats.face_found)) if feats.n_frames else 0.0,
            "params": feats.params}

"""Model input read from the features files on demand, so training memory follows the step size.

Why: holding every video's model input in memory (``(T, 17, 10, 2)`` float32, about 1.36 kB a
frame) costs about 15 GB for 100 hours at 30 fps. A `FeatureStream` stands in for that array:
it has the array's ``shape``/``len`` and answers ``stream[frames]`` (an int, a slice or an array
of frame indices, in any order) by reading only the HDF5 chunks those frames lie in (256 frames
each in files written by `pfes_core.features.save_features`). Decoded chunks go into one
least-recently-used cache per process, bounded in bytes (`DEFAULT_CACHE_MB`, or the
``PFES_FEATURE_CACHE_MB`` environment variable), so peak memory is the cache plus one step,
whatever the corpus. A corpus smaller than the cache is read from disk once.

Values are the file's float32 values, so training on a stream is bit for bit training on the
loaded array. Each chunk is checked for NaN/inf when it is first read (`FeatureError` names the
file); the layout and frame count are checked from the metadata when the stream is opened.
A stream pickles as its path and shape (it travels to worker processes and cluster tasks
cheaply; each process reads through its own cache).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .errors import FeatureError

DEFAULT_CACHE_MB = 256
FRAME_SHAPE = (17, 10, 2)
_DATASET = "model_input"


class ChunkCache:
    """Least-recently-used decoded chunks, at most `max_bytes` in all (thread-safe)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max(0, int(max_bytes))
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> np.ndarray | None:
        with self._lock:
            block = self._items.get(key)
            if block is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return block

    def put(self, key: tuple, block: np.ndarray) -> None:
        if block.nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old.nbytes
            self._items[key] = block
            self.bytes += block.nbytes
            while self.bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.bytes -= dropped.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0


_shared: ChunkCache | None = None


def shared_cache() -> ChunkCache:
    """The process's cache (size from ``PFES_FEATURE_CACHE_MB``, else `DEFAULT_CACHE_MB`)."""
    global _shared
    if _shared is None:
        try:
            mb = float(os.environ.get("PFES_FEATURE_CACHE_MB", DEFAULT_CACHE_MB))
        except ValueError:
            mb = DEFAULT_CACHE_MB
        _shared = ChunkCache(int(max(mb, 0) * 2**20))
    return _shared


class FeatureStream:
    """The model input of one features file, read chunk by chunk on indexing (see module doc)."""

    dtype = np.dtype(np.float32)
    ndim = 4

    def __init__(self, path: str | os.PathLike, n_frames: int, chunk: int,
                 cache: ChunkCache | None = None):
        self.path = Path(path)
        self.n_frames = int(n_frames)
        self.chunk = max(1, int(chunk))
        self._cache = cache
        # The file as opened: a features file replaced meanwhile (re-extraction) is another key.
        st = self.path.stat()
        self._version = (st.st_ino, st.st_mtime_ns)

    @classmethod
    def open(cls, path: str | os.PathLike, expected_frames: int | None = None,
             cache: ChunkCache | None = None) -> "FeatureStream":
        """Check the file's format and layout from its metadata (nothing read) and stream it."""
        import h5py

        from .features import H5_FORMAT, _check_layout

        path = Path(path)
        try:
            with h5py.File(path, "r") as h5:
                if h5.attrs.get("format") != H5_FORMAT:
                    raise FeatureError(f"{path} is not a P-FES features file")
                n = _check_layout(h5, path, expected_frames)
                chunks = h5[_DATASET].chunks
        except FeatureError:
            raise
        except (OSError, KeyError, ValueError, TypeError, OverflowError) as exc:
            raise FeatureError(f"features file {path} is damaged ({exc})") from None
        return cls(path, n, chunks[0] if chunks else 256, cache)

    # -- the parts of the ndarray interface training and inference use ------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n_frames, *FRAME_SHAPE)

    def __len__(self) -> int:
        return self.n_frames

    def __repr__(self) -> str:
        return f"FeatureStream({str(self.path)!r}, frames={self.n_frames})"

    def __array__(self, dtype=None, copy=None):
        out = self[0:self.n_frames]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_cache"] = None          # each process reads through its own cache
        return state

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self._gather(np.array([int(key)]))[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(self.n_frames)
            return self._gather(np.arange(start, stop, step))
        if isinstance(key, tuple):
            raise TypeError("a FeatureStream is indexed by frames only (stream[frames][:, ...])")
        idx = np.asarray(key)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise TypeError(f"frame indices must be a 1-D integer array, not {idx.dtype} {idx.shape}")
        return self._gather(idx.astype(np.int64, copy=False))

    # -- reading -------------------------------------------------------------------------------
    def _gather(self, idx: np.ndarray) -> np.ndarray:
        idx = np.where(idx < 0, idx + self.n_frames, idx)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_frames):
            raise IndexError(f"frame index out of range for {self.n_frames} frames ({self.path})")
        out = np.empty((len(idx), *FRAME_SHAPE), dtype=np.float32)
        if not idx.size:
            return out
        which = idx // self.chunk
        blocks = self._blocks(np.unique(which))
        for c, block in blocks.items():
            sel = which == c
            out[sel] = block[idx[sel] - c * self.chunk]
        return out

    def _blocks(self, wanted: np.ndarray) -> dict[int, np.ndarray]:
        cache = self._cache if self._cache is not None else shared_cache()
        found: dict[int, np.ndarray] = {}
        missing = []
        for c in map(int, wanted):
            block = cache.get((str(self.path), self._version, c))
            if block is None:
                missing.append(c)
            else:
                found[c] = block
        if missing:
            for c, block in self._read(missing).items():
                cache.put((str(self.path), self._version, c), block)
                found[c] = block
        return found

    def _read(self, chunk_ids: list[int]) -> dict[int, np.ndarray]:
        import h5py

        out = {}
        try:
            with h5py.File(self.path, "r") as h5:
                ds = h5[_DATASET]
                if ds.shape[0] != self.n_frames:
                    raise FeatureError(f"features file {self.path} changed while it was read "
                                       f"({ds.shape[0]} frames, was {self.n_frames}); rerun")
                for c in chunk_ids:
                    block = ds[c * self.chunk:min((c + 1) * self.chunk, self.n_frames)]
                    block = np.ascontiguousarray(block, dtype=np.float32)
                    if not np.isfinite(block).all():
                        raise FeatureError(f"features file {self.path} is damaged (model_input has "
                                           f"NaN or infinite values near frame {c * self.chunk}); "
                                           f"`pfes extract` recomputes it")
                    block.setflags(write=False)
                    out[c] = block
        except FeatureError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise FeatureError(f"features file {self.path} is damaged ({exc}); "
                               f"`pfes extract` recomputes it") from None
        return out


def open_features(project_or_root, video_id: str) -> FeatureStream | None:
    """The up-to-date features of `video_id` as a stream, None when missing or stale (the rules
    of `pfes_core.features.load_features`, which reads everything into memory instead)."""
    from .features import current_features_file

    found = current_features_file(project_or_root, video_id)
    if found is None:
        return None
    path, n_frames = found
    try:
        return FeatureStream.open(path, n_frames)
    except FeatureError as exc:
        raise FeatureError(f"{exc}; `pfes extract` recomputes it") from None

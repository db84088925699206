"""Frame-exact video access: video files through PyAV with a pts index, and folders of images.

Why a pts index: an expression can last 10 frames, so "frame i" must mean the same picture on every
seek. OpenCV's CAP_PROP_POS_FRAMES guesses from the frame rate and is wrong on variable-frame-rate
files. Here one demux pass at open lists every packet's presentation timestamp; frame i is the i-th
timestamp in presentation order. A random access seeks to the keyframe at or before frame i and
decodes forward, matching decoded frames to the index by pts. The number of frames is what the
demux pass (and a decode of the last GOP) measured, never the header's claim.

Reader indices are after subsampling: with ``step=7`` reader frame j is file frame 7*j.
Frames come back as read-only RGB uint8 arrays (H, W, 3) shared with the LRU cache; copy before
drawing on them.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import weakref
from bisect import bisect_right
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import VideoError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
DEFAULT_CACHE_MB = 256
DEFAULT_FOLDER_FPS = 30.0
# Reader frames converted to RGB around a seek target: behind it (stepping back is instant) and
# ahead of it (stepping forward is instant).
_KEEP_BEHIND = 16
_KEEP_AHEAD = 1
# Reader frames a background thread decodes ahead of the last request (forward stepping and
# playback hit the cache instead of the decoder).
_PREFETCH = 12


class FrameCache:
    """Thread-safe LRU of decoded frames, bounded in bytes (frames differ in size only by video)."""

    def __init__(self, capacity_mb: float = DEFAULT_CACHE_MB):
        self.capacity = int(capacity_mb * 1024 * 1024)
        self._items: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: int) -> np.ndarray | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: int, value) -> None:
        """Store an RGB array (made read-only) or a decoded, not yet converted av.VideoFrame."""
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
        size = _nbytes(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= _nbytes(old)
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.capacity and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= _nbytes(dropped)

    def __contains__(self, key: int) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def _nbytes(value) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    return int(value.width * value.height * 1.5)     # a yuv420p av.VideoFrame, roughly


def natural_key(name: str) -> list:
    """Sort key so that 'img2' < 'img10' (numbered frames are rarely zero-padded consistently)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_image_frames(folder: str | os.PathLike) -> list[Path]:
    """Image files of a frame folder in natural numeric order."""
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
             and not p.name.startswith(".")]
    files.sort(key=lambda p: natural_key(p.name))
    return files


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG or BMP file's header without decoding it; None when the
    file is none of these or its header is damaged. Reads a few bytes (JPEG: the markers up to
    the frame header), so checking thousands of frames takes a fraction of a second."""
    import struct

    with open(path, "rb") as fh:
        head = fh.read(26)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
        elif head[:2] == b"BM" and len(head) >= 26:
            if struct.unpack("<I", head[14:18])[0] == 12:
                w, h = struct.unpack("<HH", head[18:22])
            else:
                w, h = struct.unpack("<ii", head[18:26])
        elif head[:2] == b"\xff\xd8":
            w = h = 0
            fh.seek(2)
            while True:
                byte = fh.read(1)
                while byte == b"\xff":
                    byte = fh.read(1)
                if not byte:
                    return None
                marker = byte[0]
                if marker in (0x01, *range(0xD0, 0xD8)):
                    continue
                size = fh.read(2)
                if len(size) < 2 or marker == 0xD9:
                    return None
                length = struct.unpack(">H", size)[0]
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    sof = fh.read(5)
                    if len(sof) < 5:
                        return None
                    h, w = struct.unpack(">HH", sof[1:5])
                    break
                if length < 2:
                    return None
                fh.seek(length - 2, os.SEEK_CUR)
        else:
            return None
    w, h = abs(int(w)), abs(int(h))
    return (w, h) if w > 0 and h > 0 else None


def check_image_folder(files: list[Path], size: tuple[int, int]) -> None:
    """VideoError naming the first frame file that cannot be read, is not an image, or whose
    size differs from `size` (the first frame's). Headers only; see `image_size`."""
    for k, f in enumerate(files):
        try:
            found = image_size(f)
        except OSError as exc:
            raise VideoError(f"cannot read image frame {k} ({f.name}) in {f.parent}: "
                             f"{exc.strerror or exc}") from None
        if found is None:
            raise VideoError(f"image frame {k} ({f.name}) in {f.parent} is not a readable PNG, "
                             f"JPEG or BMP image")
        if found != tuple(size):
            raise VideoError(f"image frame {k} ({f.name}) in {f.parent} is {found[0]}x{found[1]}, "
                             f"the first frame is {size[0]}x{size[1]} (a video's frames must all "
                             f"have one size)")


def video_fingerprint(path: str | os.PathLike) -> str:
    """A fast content fingerprint: file size + hashes of the first and last MiB; folders: names+sizes.

    Reading two chunks keeps this instant on multi-GB files while still catching re-encodes,
    truncation and swapped files with the same name.
    """
    path = Path(path)
    if not path.exists():
        raise VideoError(f"video not found: {path}")
    digest = hashlib.sha256()
    if path.is_dir():
        files = list_image_frames(path)
        digest.update(b"folder")
        for f in files:
            digest.update(f.name.encode("utf-8", "surrogateescape"))
            digest.update(str(f.stat().st_size).encode())
            digest.update(b"\0")
        return f"dir-{len(files)}-{digest.hexdigest()[:32]}"
    size = path.stat().st_size
    chunk = 1 << 20
    digest.update(str(size).encode())
    with open(path, "rb") as fh:
        digest.update(fh.read(chunk))
        if size > chunk:
            fh.seek(max(chunk, size - chunk))
            digest.update(fh.read(chunk))
    return f"file-{size}-{digest.hexdigest()[:32]}"


class VideoReader:
    """Common interface of file and folder readers (see module docstring)."""

    path: Path
    n_frames: int
    fps: float
    size: tuple[int, int]
    step: int
    truncated: bool = False
    warning: str | None = None

    def __init__(self, path: Path, step: int, cache_mb: float):
        if int(step) != step or step < 1:
            raise VideoError(f"frame step must be a positive integer, got {step!r}")
        self.path = path
        self.step = int(step)
        self._cache = FrameCache(cache_mb)
        self._lock = threading.RLock()

    @property
    def name(self) -> str:
        return self.path.name

    def __len__(self) -> int:
        return self.n_frames

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._cache.clear()

    def _check_index(self, i: int) -> int:
        i = int(i)
        if i < 0:
            i += self.n_frames
        if not 0 <= i < self.n_frames:
            raise IndexError(f"frame {i} out of range for {self.name} ({self.n_frames} frames)")
        return i

    def is_cached(self, i: int) -> bool:
        """Whether get(i) will return without decoding (lets a GUI decide to show or defer)."""
        return int(i) * self.step in self._cache

    def get(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        raise NotImplementedError


class FolderReader(VideoReader):
    """Numbered image files (CAS(ME)^2, SAMM ship frames); the frame rate is given, not stored."""

    def __init__(self, path: Path, step: int, cache_mb: float, fps: float | None,
                 check_frames: bool = False):
        super().__init__(path, step, cache_mb)
        self.files = list_image_frames(path)
        if not self.files:
            raise VideoError(f"no image frames (png/jpg/bmp) in folder {path}")
        first = self._read(0)
        self.size = (first.shape[1], first.shape[0])
        self._cache.put(0, first)
        if check_frames:
            check_image_folder(self.files, self.size)
            self._read(len(self.files) - 1)
        self.n_raw = len(self.files)
        self.n_frames = (self.n_raw + self.step - 1) // self.step
        self.raw_fps = float(fps) if fps else DEFAULT_FOLDER_FPS
        self.fps_known = fps is not None
        self.fps = self.raw_fps / self.step
        self.timestamps = np.arange(self.n_frames, dtype=np.float64) / self.fps

    def _read(self, raw: int) -> np.ndarray:
        import cv2

        f = self.files[raw]
        data = np.fromfile(f, dtype=np.uint8)
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if bgr is None:
            raise VideoError(f"cannot read image frame {raw} ({f.name}) in {self.path}")
        if hasattr(self, "size") and (bgr.shape[1], bgr.shape[0]) != self.size:
            raise VideoError(f"image {f.name} in {self.path} is {bgr.shape[1]}x{bgr.shape[0]}, "
                             f"the first frame is {self.size[0]}x{self.size[1]}")
        return np.ascontiguousarray(bgr[:, :, ::-1])

    def get(self, i: int) -> np.ndarray:
        raw = self._check_index(i) * self.step
        frame = self._cache.get(raw)
        if frame is None:
            frame = self._read(raw)
            self._cache.put(raw, frame)
        return frame

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        stop = self.n_frames if stop is None else min(int(stop), self.n_frames)
        for i in range(max(0, int(start)), stop):
            frame = self._cache.get(i * self.step)
            yield frame if frame is not None else self._read(i * self.step)


class FileReader(VideoReader):
    """A video file read through PyAV with a pts index (one demux pass at open)."""

    def __init__(self, path: Path, step: int, cache_mb: float, allow_truncated: bool):
        super().__init__(path, step, cache_mb)
        import av

        self._av = av
        self._container = _open_container(path)
        if not self._container.streams.video:
            self._container.close()
            raise VideoError(f"{path.name} has no video stream")
        self._stream = self._container.streams.video[0]
        self._build_index(allow_truncated)

    # -- index -------------------------------------------------------------------------------
    def _build_index(self, allow_truncated: bool) -> None:
        av = self._av
        stream = self._stream
        pts_list: list[int] = []
        key_pts: list[int] = []
        demux_error = None
        missing_ts = 0
        discarded = 0
        try:
            for packet in self._container.demux(stream):
                if packet.size == 0:
                    continue
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None:
                    missing_ts += 1
                    continue
                if packet.is_keyframe:
                    key_pts.append(ts)
                if packet.is_discard:
                    # Before the edit list's start: decoded as a reference, never shown.
                    discarded += 1
                    continue
                pts_list.append(ts)
        except av.error.FFmpegError as exc:
            demux_error = _reason(exc)
        if missing_ts and not pts_list:
            raise VideoError(f"{self.name} has no timestamps (a raw elementary stream?); "
                             f"remux it into MP4 or MKV")
        pts = np.unique(np.asarray(pts_list, dtype=np.int64))
        if len(pts) < len(pts_list):
            raise VideoError(f"{self.name} has duplicate frame timestamps; re-encode it")
        if len(pts) == 0:
            raise VideoError(f"{self.name} contains no video frames")
        self._keys = sorted(set(key_pts)) or [int(pts[0])]
        if self._keys[0] > pts[0]:
            # Leading frames before the first keyframe can only be decoded from the start.
            self._keys.insert(0, int(pts[0]))
        self._pts = pts
        self._pts_to_raw = {int(p): k for k, p in enumerate(pts)}
        expected = self._header_frames()
        if expected is not None:
            expected -= discarded
        # The tail GOP is decoded once: the last demuxed packets of a cut file are often partial.
        n_ok, decode_error = self._verify_tail()
        n_raw = n_ok
        stopped = (demux_error is not None or decode_error is not None or n_ok < len(pts)
                   or (expected is not None and n_raw < expected - 1))
        if n_raw == 0:
            raise VideoError(f"{self.name} contains no decodable video frames")
        if stopped:
            why = demux_error or decode_error or "end of data"
            header = f" of {expected} announced" if expected else ""
            msg = (f"{self.name} is truncated or corrupt: reading stopped at frame {n_raw}{header}"
                   f" ({why})")
            if not allow_truncated:
                raise VideoError(msg + "; frames 0.." + str(n_raw - 1) + " are readable")
            self.truncated = True
            self.warning = msg
        self._pts = pts[:n_raw]
        self.n_raw = n_raw
        self.n_frames = (n_raw + self.step - 1) // self.step
        tb = stream.time_base or Fraction(1, 1000)
        self.time_base = tb
        self.raw_fps = self._measure_fps(tb)
        self.fps = self.raw_fps / self.step
        raw_ts = (self._pts - self._pts[0]).astype(np.float64) * float(tb)
        self.timestamps = raw_ts[:: self.step].copy()
        cc = stream.codec_context
        self.size = (int(cc.width), int(cc.height))
        self._cursor = None  # (decode generator, last raw index it produced)
        self._closed = False
        self._ahead_cond = threading.Condition()
        self._ahead_want: int | None = None
        self._ahead_thread: threading.Thread | None = None

    def _header_frames(self) -> int | None:
        """Frame count the container announces (mp4 sample table or duration x rate), if any."""
        s = self._stream
        if s.frames:
            return int(s.frames)
        duration = None
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif self._container.duration:
            duration = self._container.duration / 1_000_000
        if duration and s.average_rate:
            return int(round(duration * float(s.average_rate)))
        return None

    def _measure_fps(self, tb: Fraction) -> float:
        n = len(self._pts)
        nominal = float(self._stream.average_rate) if self._stream.average_rate else None
        if n < 2:
            return nominal or 30.0
        span = float((self._pts[-1] - self._pts[0]) * tb)
        measured = (n - 1) / span if span > 0 else (nominal or 30.0)
        if nominal and abs(nominal - measured) <= 0.01 * measured:
            return nominal  # keeps exact rates such as 30000/1001
        return measured

    def _verify_tail(self) -> tuple[int, str | None]:
        """Decode from the last keyframe; return how many leading frames are decodable."""
        av = self._av
        n = len(self._pts)
        start_key = self._key_for(n - 1)
        start_raw = self._first_raw_at(start_key)
        seen = set()
        error = None
        try:
            for raw, _frame in self._decode_from(start_key):
                if raw >= start_raw:
                    seen.add(raw)
        except av.error.FFmpegError as exc:
            error = _reason(exc)
        last = start_raw
        while last in seen:
            last += 1
        if last < n:
            return last, error or f"frame {last} could not be decoded"
        return n, error

    def _first_raw_at(self, ts: int) -> int:
        """File frame index of the first frame shown at or after timestamp `ts`."""
        return int(np.searchsorted(self._pts, ts, side="left"))

    def _key_for(self, raw: int) -> int:
        """pts of the keyframe at or before file frame `raw` (in presentation order)."""
        p = int(self._pts[raw])
        k = bisect_right(self._keys, p) - 1
        return self._keys[max(k, 0)]

    def _decode_from(self, key_pts: int, container=None) -> Iterator[tuple[int, object]]:
        """Seek to a keyframe and yield (file frame index, av.VideoFrame) in presentation order."""
        container = container or self._container
        stream = container.streams.video[0]
        container.seek(int(key_pts), stream=stream, backward=True, any_frame=False)
        # A module-level generator: the live decoder kept as the cursor must not reference the
        # reader, or an unclosed reader would only be freed by the cycle collector.
        return _frames_by_index(container.decode(stream), self._pts_to_raw)

    # -- access ------------------------------------------------------------------------------
    def get(self, i: int) -> np.ndarray:
        """Frame i (reader index) as read-only RGB; thread-safe, cached, frame-exact.

        Decoded frames are cached as av.VideoFrames and converted to RGB on first use, so a seek
        that decodes a whole GOP only pays for the conversions it needs.
        """
        raw = self._check_index(i) * self.step
        item = self._cache.get(raw)
        if not isinstance(item, np.ndarray):
            # PyAV frames are not safe to convert from two threads at once: convert under the lock.
            with self._lock:
                item = self._cache.get(raw)
                if item is None:
                    item = self._decode_to(raw)
                if not isinstance(item, np.ndarray):
                    item = item.to_ndarray(format="rgb24")
                    self._cache.put(raw, item)
        self._want_ahead(raw)
        return item

    def _decode_to(self, target: int):
        av = self._av
        step = self.step
        key = self._key_for(target)
        cursor = self._cursor
        # Continue the live decoder when the target is ahead of it and closer than a fresh seek.
        if cursor is not None and cursor[1] < target and \
                target - cursor[1] <= target - self._first_raw_at(key) + 2:
            gen = cursor[0]
        else:
            gen = self._decode_from(key)
        lo = target - _KEEP_BEHIND * step
        hi = min(target + _KEEP_AHEAD * step, self.n_raw - 1)
        result = None
        last = -1
        try:
            for raw, frame in gen:
                last = raw
                if raw % step == 0 and lo <= raw <= hi and raw < self.n_raw:
                    if raw == target:
                        result = frame
                    if raw not in self._cache:
                        self._cache.put(raw, frame)
                if raw >= hi:
                    break
        except av.error.FFmpegError as exc:
            self._cursor = None
            raise VideoError(f"{self.name}: decoding failed near frame {target // step} "
                             f"({_reason(exc)})") from None
        if result is None:
            self._cursor = None
            raise VideoError(f"{self.name}: frame {target // step} could not be decoded")
        self._cursor = (gen, last) if last >= hi and last < self.n_raw - 1 else None
        return result

    # -- background decode-ahead ---------------------------------------------------------------
    def _want_ahead(self, raw: int) -> None:
        want = min(raw + _PREFETCH * self.step, self.n_raw - 1)
        if want <= raw:
            return
        with self._ahead_cond:
            self._ahead_want = want
            if self._ahead_thread is None and not self._closed:
                self._ahead_thread = threading.Thread(
                    target=_ahead_loop, args=(weakref.ref(self), self._ahead_cond), daemon=True,
                    name=f"decode-ahead {self.name}")
                self._ahead_thread.start()
            self._ahead_cond.notify()

    def _ahead_step(self, want: int) -> bool:
        """Decode and convert one more frame (one lock hold, ~2 ms); False when done."""
        with self._lock:
            if self._closed or self._ahead_want is not None:
                return False       # closed, or a newer request: start over with it
            cursor = self._cursor
            if cursor is None or cursor[1] >= want:
                return False
            gen = cursor[0]
            try:
                raw, frame = next(gen)
            except (StopIteration, self._av.error.FFmpegError):
                self._cursor = None
                return False
            self._cursor = (gen, raw) if raw < self.n_raw - 1 else None
            if raw % self.step == 0 and raw < self.n_raw and raw not in self._cache:
                self._cache.put(raw, frame.to_ndarray(format="rgb24"))
        return True

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames start..stop-1 decoded sequentially with a private, frame-threaded decoder."""
        av = self._av
        start = max(0, int(start))
        stop = self.n_frames if stop is None else min(int(stop), self.n_frames)
        if start >= stop:
            return
        raw_start, raw_stop = start * self.step, (stop - 1) * self.step + 1
        container = _open_container(self.path)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            expected = raw_start
            try:
                for raw, frame in self._decode_from(self._key_for(raw_start), container):
                    if raw < expected:
                        continue
                    if raw > expected:
                        raise VideoError(f"{self.name}: frame {expected // self.step} is missing "
                                         f"from the decoded stream")
                    if raw % self.step == 0:
                        yield frame.to_ndarray(format="rgb24")
                    expected = raw + 1
                    if expected >= raw_stop:
                        break
            except av.error.FFmpegError as exc:
                raise VideoError(f"{self.name}: decoding stopped at frame {expected // self.step} "
                                 f"({_reason(exc)})") from None
            if expected < raw_stop:
                raise VideoError(f"{self.name}: decoding stopped at frame {expected // self.step}")
        finally:
            container.close()

    def close(self) -> None:
        with self._ahead_cond:
            self._closed = True
            self._ahead_cond.notify_all()
        thread = self._ahead_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._lock:
            self._cursor = None
            self._container.close()
        super().close()


def _ahead_loop(ref: "weakref.ref[FileReader]", cond: threading.Condition) -> None:
    """Decode-ahead thread. Holds the reader only weakly, so an unclosed reader is still freed."""
    while True:
        with cond:
            reader = ref()
            if reader is None or reader._closed:
                return
            if reader._ahead_want is None:
                del reader
                cond.wait(timeout=1.0)
                continue
            want, reader._ahead_want = reader._ahead_want, None
        while reader._ahead_step(want):
            pass
        del reader


def _open_container(path: Path):
    """av.open with every way a damaged or foreign file can fail turned into a VideoError
    (broken metadata text included: it is decoded leniently, it is never needed)."""
    import av

    try:
        return av.open(str(path), metadata_errors="replace")
    except av.error.EOFError:
        raise VideoError(f"{path.name} ends before any video frame (empty or truncated "
                         f"video)") from None
    except (av.error.FFmpegError, UnicodeError, ValueError) as exc:
        raise VideoError(f"{path.name} is not a readable video (truncated or not a video file:"
                         f" {_reason(exc)})") from None


def _frames_by_index(frames, pts_to_raw: dict) -> Iterator[tuple[int, object]]:
    for frame in frames:
        ts = frame.pts
        if ts is None:
            continue
        raw = pts_to_raw.get(int(ts))
        if raw is not None:
            yield raw, frame


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".") or type(exc).__name__


def open_video(path: str | os.PathLike, step: int = 1, *, fps: float | None = None,
               cache_mb: float = DEFAULT_CACHE_MB, allow_truncated: bool = False,
               check_frames: bool = False) -> VideoReader:
    """Open a video file or a folder of numbered images for frame-exact reading.

    `step` subsamples by an integer (200 fps SAMM-LV -> step 7); `fps` is the frame rate of an image
    folder (folders store none; 30 is assumed). A truncated file raises VideoError saying where
    reading stopped, unless `allow_truncated`, which gives a reader over the readable frames
    (`reader.truncated`, `reader.warning`). `check_frames` (registering a video): an image
    folder's every file must be a readable image of the first frame's size (headers checked,
    first and last frames decoded); video files are always demuxed whole, their tail decoded.
    """
    path = Path(path)
    if not path.exists():
        raise VideoError(f"video not found: {path}")
    if path.is_dir():
        return FolderReader(path, step, cache_mb, fps, check_frames)
    if path.stat().st_size == 0:
        raise VideoError(f"{path.name} is an empty file (0 bytes)")
    return FileReader(path, step, cache_mb, allow_truncated)

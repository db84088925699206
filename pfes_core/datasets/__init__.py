"""Dataset importers: a public spotting corpus on disk -> a ready project (subjects, videos,
reference intervals, point labels). One module per dataset reads its layout and workbook;
`common` holds the cleaning rules and builds the project.

    summary = import_dataset("casme2", "/data/CAS(ME)^2", "casme2.pfes", points="apex")
"""

from __future__ import annotations

from pathlib import Path

from ..errors import PfesError
from . import casme2, casme3, samm_lv
from .common import POINT_MODES, ImportSummary, build_project

DATASETS = {"casme2": casme2, "samm-lv": samm_lv, "casme3": casme3}
TITLES = {"casme2": "CAS(ME)^2", "samm-lv": "SAMM Long Videos", "casme3": "CAS(ME)^3 part A"}


def default_step(dataset: str) -> int:
    return _module(dataset).DEFAULT_STEP


def _module(dataset: str):
    if dataset not in DATASETS:
        raise PfesError(f"unknown dataset {dataset!r} (expected {', '.join(DATASETS)})")
    return DATASETS[dataset]


def import_dataset(dataset: str, root, project_dir, subjects=None, step: int | None = None,
                   points: str = "apex", seed: int = 0, media: str = "auto", progress=None) -> ImportSummary:
    """Read DATASET's layout under `root` and create the project `project_dir` from it.

    `subjects`: ids or numbers to keep (default all); `step`: analyse every N-th frame (default:
    the dataset's, 7 for SAMM-LV); `points`: 'apex' or 'sampled' (seeded by `seed`); `media`:
    CAS(ME)^2 only, 'frames' (rawpic/), 'video' (rawvideo/) or 'cropped'.
    Raises PfesError (one line naming file, sheet and row) and then writes nothing.
    """
    module = _module(dataset)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise PfesError(f"dataset folder not found: {root}")
    step = module.DEFAULT_STEP if step is None else int(step)
    if step < 1:
        raise PfesError(f"--step must be at least 1, got {step}")
    if points not in POINT_MODES:
        raise PfesError(f"unknown point mode {points!r} (expected {' or '.join(POINT_MODES)})")
    summary = ImportSummary(dataset=dataset, source=str(root), project=str(project_dir), step=step,
                            points_mode=points, seed=seed if points == "sampled" else None)
    media_entries, events = module.scan(root, summary, subjects=subjects, media=media)
    return build_project(project_dir, summary, media_entries, events, progress=progress)


__all__ = ["DATASETS", "TITLES", "POINT_MODES", "ImportSummary", "import_dataset", "default_step"]

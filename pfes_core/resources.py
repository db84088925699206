"""Locate files shipped under resources/ (installed as the `pfes_resources` package)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """Absolute path of a shipped resource file, e.g. resource_path("face_landmarker.task")."""
    root = Path(str(resources.files("pfes_resources")))
    path = root.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"missing resource {'/'.join(parts)} (reinstall P-FES Studio)")
    return path

"""Issue 16, item 7: a small file cannot cost a lot.

A 0.8 MB compressed project.h5 used to cost 1.6 GB of RAM and 14 s before its error. Dataset
layouts are now checked before anything is read: P-FES never writes chunked or compressed
columns, and a column must really be stored in the file at the size it declares.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from store_common import make_project

from pfes_core.errors import ProjectError
from pfes_core.project import Project


def _replace(root, name, **create):
    with h5py.File(root / "project.h5", "r+") as f:
        group, _, leaf = name.rpartition("/")
        del f[name]
        f[group].create_dataset(leaf, **create)


def test_compressed_column_expanding_to_gigabytes_is_refused(tmp_path):
    root = make_project(tmp_path)
    # 200 million zero frames: 1.6 GB once read, a few hundred kB compressed
    _replace(root, "labels/frame", shape=(200_000_000,), dtype=np.int64, chunks=(1_000_000,),
             compression="gzip", fillvalue=0)
    with h5py.File(root / "project.h5", "r+") as f:
        f["labels/frame"][:1_000_000] = 0
    assert (root / "project.h5").stat().st_size < 2_000_000
    with pytest.raises(ProjectError, match="labels/frame is chunked or compressed"):
        Project.open(root, readonly=True)


def test_declared_but_unstored_column_is_refused(tmp_path):
    root = make_project(tmp_path)
    _replace(root, "labels/created", shape=(10_000_000,), dtype=np.float64)  # never written: no storage
    assert (root / "project.h5").stat().st_size < 100_000
    with pytest.raises(ProjectError, match="labels/created declares 80000000 bytes but the file holds 0"):
        Project.open(root, readonly=True)


def test_column_of_the_wrong_type_or_rank_is_refused(tmp_path):
    root = make_project(tmp_path)
    _replace(root, "videos/fps", data=np.zeros((1, 2)))
    with pytest.raises(ProjectError, match="videos/fps has shape"):
        Project.open(root, readonly=True)
    root = make_project(tmp_path / "b")
    _replace(root, "labels/frame", data=np.array(["a", "b"], dtype=object), dtype=h5py.string_dtype())
    with pytest.raises(ProjectError, match="labels/frame holds"):
        Project.open(root, readonly=True)

"""Model input streamed from features files: same values as the loaded array, a cache that stays
within its bound, damaged chunks named, and training on streams equal to training on arrays."""

from __future__ import annotations

import pickle
from dataclasses import replace

import h5py
import numpy as np
import pytest
import torch

from pfes_core.errors import FeatureError
from pfes_core.feature_stream import ChunkCache, FeatureStream, open_features
from pfes_core.features import FeatureParams, Features, read_features, save_features
from pfes_core.training import VideoData, load_project_videos, train_on_arrays

from test_training import make_project, make_videos, tiny_config

torch.set_num_threads(1)


def write_features(path, model_input):
    n = len(model_input)
    save_features(path, Features(
        landmarks=np.zeros((n, 68, 2), np.float32), face_found=np.ones(n, bool),
        roi_vectors=np.zeros((n, 12, 2), np.float32), model_input=model_input,
        params=FeatureParams().to_dict(), fingerprint="fp", n_frames=n, fps=25.0, video_id="v"))
    return path


@pytest.fixture()
def features_file(tmp_path):
    x = np.random.default_rng(0).normal(size=(1000, 17, 10, 2)).astype(np.float32)
    return write_features(tmp_path / "v.h5", x), x


def test_stream_reads_the_values_the_loader_reads(features_file):
    path, x = features_file
    s = FeatureStream.open(path, cache=ChunkCache(2**30))
    assert s.shape == x.shape and len(s) == 1000 and s.chunk == 256
    np.testing.assert_array_equal(read_features(path).model_input, x)
    for key in (slice(0, 1000), slice(250, 270), slice(990, 2000), slice(None, None, 7)):
        np.testing.assert_array_equal(s[key], x[key])
    idx = np.array([999, 3, 3, 512, 0, 255, 256, -1])
    np.testing.assert_array_equal(s[idx], x[idx])
    np.testing.assert_array_equal(s[17], x[17])
    np.testing.assert_array_equal(np.asarray(s), x)
    with pytest.raises(IndexError):
        s[np.array([1000])]
    back = pickle.loads(pickle.dumps(s))
    assert back._cache is None and len(pickle.dumps(s)) < 1000
    np.testing.assert_array_equal(back[np.arange(0, 1000, 13)], x[::13])


def test_cache_stays_within_its_bound_and_serves_repeats(features_file):
    path, x = features_file
    chunk_bytes = 256 * 17 * 10 * 2 * 4
    cache = ChunkCache(2 * chunk_bytes + 10)
    s = FeatureStream.open(path, cache=cache)
    for start in range(0, 1000, 100):
        np.testing.assert_array_equal(s[start:start + 100], x[start:start + 100])
        assert cache.bytes <= cache.max_bytes
    assert len(cache._items) == 2
    misses = cache.misses
    s[900:1000]                             # the last chunk is still cached
    assert cache.misses == misses and cache.hits > 0


def test_a_damaged_chunk_is_named_when_read(features_file):
    path, _ = features_file
    with h5py.File(path, "r+") as h5:
        h5["model_input"][600, 0, 0, 0] = np.nan
    s = FeatureStream.open(path, cache=ChunkCache(2**30))
    s[0:256]                                 # other chunks are fine
    with pytest.raises(FeatureError, match=r"v\.h5.*NaN.*frame 512"):
        s[np.array([10, 600])]
    with h5py.File(path, "r+") as h5:
        h5.attrs["format"] = "other"
    with pytest.raises(FeatureError, match="not a P-FES features file"):
        FeatureStream.open(path)


def test_training_on_streams_equals_training_on_arrays(tmp_path):
    videos = make_videos(seed=3, n=2)
    streamed = []
    for v in videos:
        path = write_features(tmp_path / f"{v.video_id}.h5", v.model_input)
        streamed.append(replace(v, model_input=FeatureStream.open(path, cache=ChunkCache(300_000))))
    config = tiny_config(epochs=2)
    a = train_on_arrays(videos, config, device="cpu")
    b = train_on_arrays(streamed, config, device="cpu")
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    for pa, pb in zip(a.model.state_dict().values(), b.model.state_dict().values()):
        assert torch.equal(pa, pb)


def test_project_training_reads_streams(tmp_path):
    root = make_project(tmp_path, make_videos(seed=5, n=2, subjects=2))
    videos, _snapshot, _info = load_project_videos(root)
    assert videos and all(isinstance(v.model_input, FeatureStream) for v in videos)
    assert open_features(root, "v0").shape == (400, 17, 10, 2)
    assert isinstance(videos[0], VideoData)

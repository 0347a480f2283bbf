"""Shared fixtures: a seeded rng, the project's real config composed small
(experiment=tiny), and the real music in ../shared/data (tests that need it skip cleanly
when it is absent; GENREVAE_SHARED_DATA=<folder> points them elsewhere).

Test tiers, by folder: tests/e2e/ is marked ``e2e`` (real `dvc exp run` in a copied
project), tests/slow/ ``slow`` (subprocesses of real stages, Dask clusters, servers,
benchmark scripts, seconds per test); the rest is the fast tier, what `make test` runs
(``-m "not e2e and not slow"``). `make test-all` runs every tier."""

from __future__ import annotations

import copy
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrevae.config import Config, from_dict, load_params

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GENREVAE_SHARED_DATA") or ROOT.parent / "shared" / "data")
# The marker of each tier's folder under tests/ (registered in pyproject.toml).
TIER_MARKERS = {"e2e": "e2e", "slow": "slow"}


def pytest_collection_modifyitems(config, items) -> None:
    """Mark each test by its folder under tests/: tests/e2e/... e2e, tests/slow/... slow."""
    tests = ROOT / "tests"
    for item in items:
        try:
            parts = Path(item.path).resolve().relative_to(tests).parts
        except ValueError:
            continue
        if parts[0] in TIER_MARKERS:
            item.add_marker(TIER_MARKERS[parts[0]])


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261124)


@pytest.fixture(scope="session")
def params() -> dict:
    """The committed params.yaml as a plain dict (tests deep-copy before editing)."""
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="session")
def tiny_composed(tmp_path_factory) -> dict:
    """conf/ composed with ``experiment=tiny`` (conf/experiment/tiny.yaml), as `dvc exp
    run -S experiment=tiny` composes it: the small configuration the e2e tests run too."""
    from genrevae.config.compose import compose_params

    out = tmp_path_factory.mktemp("tiny") / "params.yaml"
    compose_params(["experiment=tiny"], conf_dir=ROOT / "conf", output=out)
    return load_params(out)


@pytest.fixture
def tiny_params(tiny_composed: dict) -> dict:
    """A fresh copy of the tiny params (4 genres x 4 tracks of 6 s, 3 epochs) to edit."""
    return copy.deepcopy(tiny_composed)


@pytest.fixture
def tiny_cfg(tiny_params: dict) -> Config:
    return from_dict(tiny_params)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "gtzan_sample").is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


def music_like(seconds: float, sr: int = 22050, seed: int = 0) -> np.ndarray:
    """Seeded music-like audio (float32, peak ~0.8): notes of a pentatonic scale with eight
    decaying harmonics and a slight vibrato, a percussive noise burst on each beat, and a
    noise floor; what the kernels see in real music (onsets, partials, silence-free noise)."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    y = 0.01 * rng.standard_normal(n)
    start, scale = 0, 110.0 * 2 ** (np.array([0, 3, 5, 7, 10, 12, 15]) / 12)
    while start < n:
        length = int(sr * rng.choice([0.25, 0.5, 0.75]))
        f0 = rng.choice(scale) * rng.choice([1, 2])
        tt = t[start : start + length] - t[start]
        env = np.exp(-tt * rng.uniform(2, 8)) * np.minimum(1.0, tt * 200)
        phase = 2 * np.pi * f0 * tt + 0.3 * np.sin(2 * np.pi * 5 * tt)
        y[start : start + length] += env * sum(
            np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 9)) * 0.3
        start += length
    beat = int(sr * 0.5)
    for onset in range(0, n, beat):
        burst = min(int(sr * 0.08), n - onset)
        y[onset : onset + burst] += 0.4 * rng.standard_normal(burst) * np.exp(
            -np.arange(burst) / (sr * 0.015))
    return (0.8 * y / np.abs(y).max()).astype(np.float32)


def shared_or_generated(name: str, sr: int = 22050) -> np.ndarray:
    """The real recording ``gtzan_sample/<name>`` of SHARED_DATA when it is there, else 30 s
    of :func:`music_like` seeded by ``name``: the librosa-equivalence tests of the kernels
    compare against librosa either way."""
    path = SHARED_DATA / "gtzan_sample" / name
    if path.is_file():
        y, file_sr = sf.read(path, dtype="float32")
        assert file_sr == sr
        return np.ascontiguousarray(y)
    return music_like(30.0, sr, seed=zlib.crc32(name.encode()))


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny models train faster on one thread, and do not stall when the cores are busy."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

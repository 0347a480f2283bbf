"""Shared fixtures: a seeded rng, the project's real config shrunk to tiny sizes, and the
real music in ../shared/data (tests that need it skip cleanly when it is absent)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from genrevae.config import Config, from_dict, load_params

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261124)


@pytest.fixture(scope="session")
def params() -> dict:
    """The committed params.yaml as a plain dict (tests deep-copy before editing)."""
    return load_params(ROOT / "params.yaml")


def tiny_params(params: dict) -> dict:
    """The real params, shrunk: 4 genres x 4 tracks of 6 s, 3 epochs."""
    p = copy.deepcopy(params)
    p["data"]["synthetic"].update(genres=["blues", "classical", "hiphop", "metal"],
                                  tracks_per_genre=4, duration=6.0)
    p["features"]["n_jobs"] = 1
    p["lyrics"]["dim"] = 4
    p["train"].update(epochs=3, batch_size=8, patience=3)
    p["latent_dim"] = 4
    p["model"]["hidden_dims"] = [16, 8]
    p["cluster"]["dbscan_min_samples"] = 3
    p["evaluate"].update(tsne_perplexity=5.0, n_reconstructions=2)
    return p


@pytest.fixture
def tiny_cfg(params: dict) -> Config:
    return from_dict(tiny_params(params))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "gtzan_sample").is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny models train faster on one thread, and do not stall when the cores are busy."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

"""Shared fixtures: a seeded rng, the project's real config composed small
(experiment=tiny), and the real music in ../shared/data (tests that need it skip cleanly
when it is absent)."""

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


@pytest.fixture(scope="session")
def tiny_composed(tmp_path_factory) -> dict:
    """conf/ composed with ``experiment=tiny`` (conf/experiment/tiny.yaml), as `dvc exp
    run -S experiment=tiny` composes it: the small configuration the e2e tests run too."""
    from genrevae.compose import compose_params

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


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny models train faster on one thread, and do not stall when the cores are busy."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

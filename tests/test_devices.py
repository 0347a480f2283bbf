"""The one device resolver: cpu, cuda and auto, refused names, and cuda without a GPU
refused with the setting's name (never a silent fallback)."""

from __future__ import annotations

import copy

import pytest

from genrevae.config import from_dict
from genrevae.devices import resolve_device
from genrevae.errors import ConfigError


def test_cpu_is_cpu():
    assert resolve_device("cpu", key="features.device") == "cpu"


def test_an_unknown_name_is_refused_with_the_key():
    with pytest.raises(ConfigError, match=r"^features\.device: must be one of cpu, cuda, auto"):
        resolve_device("gpu", key="features.device")


def test_auto_and_cuda_follow_the_gpu():
    """auto is cuda exactly when torch sees a GPU; cuda without one is refused."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        assert resolve_device("auto", key="train.device") == "cuda"
        assert resolve_device("cuda", key="train.device") == "cuda"
    else:
        assert resolve_device("auto", key="train.device") == "cpu"
        with pytest.raises(ConfigError, match=r"^train\.device: 'cuda' but no CUDA device"):
            resolve_device("cuda", key="train.device")


def test_the_device_settings_are_validated(params):
    """features.device and train.device accept only cpu, cuda and auto."""
    for section in ("features", "train"):
        p = copy.deepcopy(params)
        p[section]["device"] = "gpu"
        with pytest.raises(ConfigError, match=rf"{section}\.device"):
            from_dict(p)

"""Checkpoints: saved and loaded by genrevae.models.checkpoint, byte-stable, and a file
holding code or damage refused without running anything."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrevae.models.checkpoint import load_checkpoint, load_model, save_checkpoint
from genrevae.models.vae import VAE
from tests.models.conftest import HIDDEN, INPUT_DIM, LATENT_DIM, manifold, model_config


def test_checkpoint_round_trip(trained: VAE, tmp_path, rng: np.random.Generator) -> None:
    """Weights, model config and meta saved and loaded rebuild a model with identical outputs."""
    path = tmp_path / "sub" / "model.pt"
    cfg = model_config()
    meta = {"input_shape": [INPUT_DIM], "n_conditions": 0, "n_components": 5, "input": "audio"}
    save_checkpoint(path, trained, cfg, meta)
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary left over
    ckpt = load_checkpoint(path)
    assert ckpt["meta"] == meta
    assert ckpt["model"]["latent_dim"] == LATENT_DIM
    torch.manual_seed(99)  # a differently initialised model
    restored = VAE(INPUT_DIM, LATENT_DIM, HIDDEN)
    x = manifold(rng, 8)
    assert not np.allclose(restored.latent_means(x), trained.latent_means(x))
    restored.load_state_dict(ckpt["state_dict"])
    np.testing.assert_array_equal(restored.latent_means(x), trained.latent_means(x))
    np.testing.assert_array_equal(restored.reconstruct(x), trained.reconstruct(x))
    loaded, loaded_cfg, loaded_meta = load_model(path)
    assert isinstance(loaded, VAE) and not loaded.training
    assert loaded_cfg == cfg and loaded_meta == meta
    np.testing.assert_array_equal(loaded.latent_means(x), trained.latent_means(x))


def test_checkpoint_bytes_depend_on_content_only(trained: VAE, tmp_path) -> None:
    """The same weights saved twice, under different names, are the same bytes (so an
    unchanged model never makes DVC rerun what depends on it)."""
    cfg = model_config()
    meta = {"input_shape": [INPUT_DIM], "n_conditions": 0, "n_components": 5, "input": "audio"}
    save_checkpoint(tmp_path / "a" / "model.pt", trained, cfg, meta)
    save_checkpoint(tmp_path / "b" / "other.pt", trained, cfg, meta)
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "other.pt").read_bytes()


class _Payload:
    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))  # creating the file proves the code ran


def test_checkpoint_with_a_pickled_payload_is_refused_unrun(tmp_path) -> None:
    from genrevae.errors import DataError

    marker = tmp_path / "ran"
    path = tmp_path / "model.pt"
    torch.save({"state_dict": {}, "model": {}, "meta": {}, "x": _Payload(marker)}, path)
    with pytest.raises(DataError, match="never loaded"):
        load_model(path)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing", "foreign"])
def test_damaged_checkpoint_is_one_error_naming_it(trained: VAE, tmp_path, damage: str) -> None:
    from genrevae.errors import DataError

    path = tmp_path / "model.pt"
    save_checkpoint(path, trained, model_config(), {"input_shape": [INPUT_DIM]})
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 8)
    elif damage == "missing":
        path.unlink()
    else:
        torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(DataError, match="dvc repro") as info:
        load_model(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)

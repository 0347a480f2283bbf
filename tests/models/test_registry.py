"""The model table: one line of genrevae.models.names per model, a conf/model YAML for each,
every class building itself from its config and rebuilt from a checkpoint with the same
outputs, checkpoints written before models built themselves included."""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pytest
import torch
import yaml

from genrevae.config import MODEL_NAMES
from genrevae.models import names, registry
from genrevae.models.base import LatentModel
from genrevae.models.checkpoint import load_checkpoint, load_model, save_checkpoint
from genrevae.models.conv_vae import ConvVAE
from genrevae.models.vade import VaDE
from genrevae.models.vae import AE, VAE
from tests.conftest import ROOT
from tests.models.test_variants import MEL, N_COMPONENTS, N_CONDITIONS, D, model_config, toy

pytestmark = pytest.mark.usefixtures("torch_one_thread")

CONF_MODELS = ROOT / "conf" / "model"


def test_config_names_are_the_registry_and_the_conf_options() -> None:
    """The names the config accepts, the registry's and the options of conf/model/ are the
    same, each YAML setting its own file's name: a model is its module, its YAML and its
    line in genrevae.models.names."""
    options = {p.stem for p in CONF_MODELS.glob("[!_]*.yaml")}
    assert set(MODEL_NAMES) == options
    assert tuple(registry.MODELS) == names.MODEL_NAMES == MODEL_NAMES
    for name in options:
        assert yaml.safe_load((CONF_MODELS / f"{name}.yaml").read_text())["name"] == name


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_each_class_lives_under_the_models_package(name: str) -> None:
    """Each name maps to a LatentModel class of a module under genrevae.models: the train
    and evaluate stages depend on that whole folder in dvc.yaml, which covers the classes
    the registry imports by name."""
    path = names.MODEL_CLASSES[name]
    module, _, attr = path.rpartition(".")
    assert module.startswith("genrevae.models.")
    cls = getattr(importlib.import_module(module), attr)
    assert registry.MODELS[name] is cls and issubclass(cls, LatentModel)


def _built(name: str, seed: int = 0) -> tuple[LatentModel, tuple[int, ...]]:
    shape = MEL if name == "conv_vae" else (D,)
    torch.manual_seed(seed)
    model = registry.MODELS[name].from_config(model_config(name), shape,
                                              n_conditions=N_CONDITIONS,
                                              n_components=N_COMPONENTS)
    return model, shape


def _outputs(model: LatentModel, name: str) -> tuple[np.ndarray, np.ndarray]:
    x, c, _ = toy(name, 6, seed=3)
    return model.latent_means(x, c), model.reconstruct(x, c)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_from_config_round_trips_through_a_checkpoint(name: str, tmp_path) -> None:
    """from_config records its arguments; the checkpoint saves them and load_model rebuilds
    the same class with the same outputs."""
    model, shape = _built(name)
    assert model.build_args == {"input_shape": list(shape), "n_conditions": N_CONDITIONS,
                                "n_components": N_COMPONENTS}
    model.eval()
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, model_config(name), {"input": "audio"})
    assert load_checkpoint(path)["meta"] == {**model.build_args, "input": "audio"}
    loaded, cfg, _ = load_model(path)
    assert type(loaded) is type(model) and cfg == model_config(name)
    assert loaded.build_args == model.build_args
    for ours, theirs in zip(_outputs(model, name), _outputs(loaded, name), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def _as_before(name: str, shape: tuple[int, ...]) -> LatentModel:
    """The model as the registry built it before each class built itself (its if/elif)."""
    cfg = model_config(name)
    if name == "conv_vae":
        return ConvVAE(shape, cfg.latent_dim, channels=cfg.channels, dropout=cfg.dropout,
                       pool=cfg.pool)
    if name == "cvae":
        return VAE(D, cfg.latent_dim, cfg.hidden_dims, cfg.dropout, n_conditions=N_CONDITIONS,
                   whiten=cfg.whiten)
    if name == "vade":
        return VaDE(D, cfg.latent_dim, cfg.hidden_dims, cfg.dropout, n_components=N_COMPONENTS,
                    whiten=cfg.whiten)
    return {"vae": VAE, "ae": AE}[name](D, cfg.latent_dim, cfg.hidden_dims, cfg.dropout,
                                        whiten=cfg.whiten)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_checkpoint_written_before_models_built_themselves_loads(name: str, tmp_path) -> None:
    """A model.pt as the earlier code wrote it (its build arguments first in meta, then the
    stage's meta; the config as a dict) loads into the model it held, and from_config on
    the same seed builds the very weights the earlier registry did."""
    shape = MEL if name == "conv_vae" else (D,)
    torch.manual_seed(0)
    old = _as_before(name, shape).eval()
    meta = {"input_shape": list(shape), "n_conditions": N_CONDITIONS,
            "n_components": N_COMPONENTS, "input": "audio", "best_epoch": 1}
    path = tmp_path / "model.pt"
    with path.open("wb") as fh:
        torch.save({"state_dict": old.state_dict(),
                    "model": dataclasses.asdict(model_config(name)), "meta": meta}, fh)
    loaded, _, loaded_meta = load_model(path)
    assert isinstance(loaded, type(old)) and loaded_meta == meta
    for ours, theirs in zip(_outputs(old, name), _outputs(loaded, name), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    new, _ = _built(name)
    for key, value in old.state_dict().items():
        assert torch.equal(new.state_dict()[key], value), key

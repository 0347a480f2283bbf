"""The one place that writes and reads model files: weights, the model's config, how it
was built, and what its input needs (the input transform's record, see
:mod:`genrevae.inputs.transform`). Loading never runs code from the file."""

from __future__ import annotations

import dataclasses
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from genrevae.config import ModelConfig
from genrevae.errors import ArtifactError
from genrevae.io import atomic_path
from genrevae.models.base import LatentModel
from genrevae.models.registry import build_model

KEYS = ("state_dict", "model", "meta")


def save_checkpoint(
    path: str | Path, model: LatentModel, model_cfg: ModelConfig, meta: dict[str, Any]
) -> None:
    """Weights, the model config and ``meta`` (plain data), with the arguments the model
    was built with (:attr:`LatentModel.build_args`: input shape, conditions, mixture size)
    first in ``meta``, where :func:`load_model` reads them back; written atomically.

    The bytes depend on the content only: torch names the archive's top folder after the
    file it writes to, so saving to the random temporary name would make every save
    differ (and DVC rerun what depends on the model); through an open file the folder
    is always "archive"."""
    meta = {**getattr(model, "build_args", {}), **meta}
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        torch.save({"state_dict": model.state_dict(), "model": dataclasses.asdict(model_cfg),
                    "meta": meta}, fh)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's tensors and plain metadata. Weights-only loading: a file that holds
    anything else (a pickled object, code) is refused, never run."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: no such checkpoint; run `dvc repro` to train it") from exc
    except pickle.UnpicklingError as exc:
        raise ArtifactError(f"{path}: holds objects other than tensors and plain data, which are "
                            "never loaded (a tampered or foreign file?); rerun `dvc repro` to "
                            "rebuild it") from exc
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArtifactError(f"{path}: not a loadable genrevae checkpoint ({first[:160]}); "
                            "rerun `dvc repro` to rebuild it") from exc
    if not isinstance(ckpt, dict) or not set(KEYS) <= set(ckpt):
        raise ArtifactError(f"{path}: not a genrevae checkpoint (keys {', '.join(KEYS)} "
                            "expected); rerun `dvc repro` to rebuild it")
    return ckpt


def load_model(path: str | Path) -> tuple[LatentModel, ModelConfig, dict[str, Any]]:
    """Rebuild a trained model from its checkpoint, in eval mode on the CPU; with its
    config and the checkpoint's ``meta``. The model is built as training built it (its
    class's ``from_config`` with the recorded build arguments), then given the weights."""
    ckpt = load_checkpoint(path)
    raw = dict(ckpt["model"])
    raw["hidden_dims"] = tuple(raw["hidden_dims"])
    cfg = ModelConfig(**raw)
    meta = ckpt["meta"]
    model = build_model(cfg, tuple(meta["input_shape"]), n_conditions=meta["n_conditions"],
                        n_components=meta["n_components"])
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, cfg, meta

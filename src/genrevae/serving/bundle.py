"""The model as files: the data folder the MLflow model carries (``model.pt``, the probe,
the input transform as readable JSON), the SHA-256 of each, and the provenance a
prediction reports.

A bundle is data only. ``model.pt`` loads weights-only (:mod:`genrevae.models.checkpoint`),
the rest is JSON. Its digests are recorded outside the artifact store (in the MLflow run
and model version, see :mod:`genrevae.tracking.registry`), so a file changed in the store is
refused before anything reads it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genrevae.errors import ArtifactError, DataError, GenreVAEError
from genrevae.io import save_json
from genrevae.serving.predict import MODEL_FILE, PROBE_FILE, Predictor

TRANSFORM_FILE = "input_transform.json"
FILES = (MODEL_FILE, PROBE_FILE, TRANSFORM_FILE)
# The probe's key for what evaluate knew of the run that wrote it.
PROVENANCE_KEY = "provenance"
SYNTHETIC = "synthetic"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def digests(folder: Path) -> dict[str, str]:
    """``{file name: sha256}`` of every file in ``folder`` (flat: a bundle has no
    sub-folders)."""
    return {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}


def write_bundle(model_path: Path, probe_path: Path, out: Path, *,
                 example: bytes | None = None,
                 provenance: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Copy the model and probe into the new folder ``out`` with the input transform (the
    checkpoint's record of scalers and feature settings) as JSON; returns the digests.
    ``provenance`` (the run that logs it) is added to the copied probe's own.

    Raises DataError (not ArtifactError) for a model that cannot predict from audio:
    Predictor refuses it, or it fails on the song ``example``."""
    out.mkdir(parents=True)
    shutil.copyfile(model_path, out / MODEL_FILE)
    shutil.copyfile(probe_path, out / PROBE_FILE)
    if provenance:
        probe = json.loads((out / PROBE_FILE).read_text(encoding="utf-8"))
        probe[PROVENANCE_KEY] = {**(probe.get(PROVENANCE_KEY) or {}), **provenance}
        save_json(out / PROBE_FILE, probe)
    predictor = Predictor(out)
    if example is not None:
        from genrevae.serving.payload import predict_bytes

        try:
            predict_bytes(predictor, example, "example.wav")
        except ArtifactError:
            raise
        # A model fit on a feature table (data=features_table) has inputs that predict's
        # own features do not match; whatever the cause, such a model is not served.
        except (GenreVAEError, ValueError, RuntimeError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise DataError(f"this model cannot predict from audio ({first[:200]})") from exc
    save_json(out / TRANSFORM_FILE, predictor.transform.record())
    return digests(out)


def verify(folder: Path, recorded: Mapping[str, str] | None, *, what: str) -> None:
    """Refuse (one line naming ``what``) a bundle whose files are not exactly those
    recorded, byte for byte; ``recorded`` None means nothing was recorded."""
    if not recorded:
        raise ArtifactError(f"{what}: no file digests recorded for this model, so its files "
                            "cannot be trusted; log it again with the pipeline (dvc repro)")
    found = digests(folder) if folder.is_dir() else {}
    for name in sorted(set(recorded) | set(found)):
        if name not in found:
            problem = "is missing"
        elif name not in recorded:
            problem = "was not logged with the model"
        elif found[name] != recorded[name]:
            problem = "differs from the file logged (sha256 mismatch)"
        else:
            continue
        raise ArtifactError(f"{what}: {name} {problem}; the model was tampered with or "
                            "damaged and is refused")


def check_transform(folder: Path, predictor: Predictor) -> None:
    """The readable transform must be the checkpoint's own (the predictor uses the latter)."""
    path = folder / TRANSFORM_FILE
    if path.is_file() and json.loads(path.read_text()) != json.loads(
            json.dumps(predictor.transform.record())):
        raise ArtifactError(f"{path}: differs from the input transform in {MODEL_FILE}")


def provenance(predictor: Predictor, *, version: str | None = None,
               name: str | None = None,
               found: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Which model answers: its MLflow run, registered model and version (when loaded
    from the registry), the data it was trained on, the genres it knows and when.
    ``found``: what the tracking store says of a model folder's run, where it knows it."""
    known = {**(predictor.probe.get(PROVENANCE_KEY) or {}), **(found or {})}
    return {
        "run": known.get("run"), "run_id": known.get("run_id"),
        "registered_model": name, "version": version,
        "data": known.get("data"), "trained": known.get("trained"),
        "genres": list(predictor.probe["classes"]),
    }


def synthetic_warning(info: Mapping[str, Any]) -> str | None:
    """One line for a model trained on the embedded synthetic corpus, else None."""
    if info.get("data") != SYNTHETIC:
        return None
    return (f"model {info.get('run') or '?'} was trained on data=synthetic: its genres "
            f"({', '.join(info['genres'])}) are those of the embedded synthetic corpus, not "
            "of real music")


def describe(info: Mapping[str, Any]) -> str:
    """The provenance as one line."""
    version = (f" ({info['registered_model']} version {info['version']})"
               if info.get("version") else "")
    return (f"model: run {info.get('run') or 'unknown'}{version}, data "
            f"{info.get('data') or 'unknown'}, trained {info.get('trained') or 'unknown'}, "
            f"genres {', '.join(info['genres'])}")

"""The trained model in MLflow: logged by ``evaluate`` as a pyfunc model, registered as a
version of ``genrevae``, promoted with the alias ``champion``, and read back for
`genrevae predict --model models:/...` and `genrevae serve`.

The logged model holds data only: MLmodel names the loader module
:mod:`genrevae.serving.pyfunc` of the installed package, and ``data/model/`` holds
``model.pt`` (loaded weights-only), ``probe.json`` and ``input_transform.json``. The SHA-256
of each data file is recorded in the tracking store, on the run and on the model version
(tag ``genrevae.sha256``), never only beside the files: whoever loads the model checks its
files against the store first, and refuses it in one line if one differs.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genrevae import tracking
from genrevae.errors import ArtifactError, DataError, GenreVAEError
from genrevae.serving.bundle import write_bundle

log = logging.getLogger(__name__)

MODEL_NAME = "genrevae"
ALIAS = "champion"
ARTIFACT = "model"  # runs:/<id>/model
BUNDLE = "model"  # the data folder's name inside the MLflow model (data/model)
LOADER = "genrevae.serving.pyfunc"
DIGEST_TAG = "genrevae.sha256"
VERSION_TAG = "genrevae.model_version"
NOT_LOGGED_TAG = "genrevae.model_not_logged"
# Runtime requirements for an environment built from the model's files; the project's own
# environment (`--env-manager local`) is the one tested, since genrevae itself is not on PyPI.
REQUIREMENTS = ("mlflow", "torch", "numpy", "pandas", "soundfile", "soxr", "scikit-learn")


@contextlib.contextmanager
def _store(uri: str) -> Iterator[None]:
    """MLflow's failures as one TrackingError line; genrevae's own errors as they are."""
    try:
        yield
    except GenreVAEError:
        raise
    except Exception as exc:  # the store is unreachable or refuses the request
        raise tracking.tracking_error(uri, exc) from exc


def _pins() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for name in REQUIREMENTS:
        with contextlib.suppress(PackageNotFoundError):
            pins.append(f"{name}=={version(name)}")
    return pins


def signature() -> Any:
    """One row per song: ``audio`` its encoded bytes (base64 in JSON, as MLflow's scoring
    server decodes a ``binary`` column), ``name`` optional, echoed as ``track``."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, Array, ColSpec, DataType, Map, Schema

    inputs = Schema([ColSpec(DataType.binary, "audio"),
                     ColSpec(DataType.string, "name", required=False)])
    outputs = Schema([ColSpec(DataType.string, "track"), ColSpec(DataType.string, "top_genre"),
                      ColSpec(DataType.long, "nearest_cluster", required=False),
                      ColSpec(DataType.long, "n_segments"),
                      ColSpec(Map(DataType.double), "probabilities"),
                      ColSpec(Array(DataType.double), "latent"),
                      ColSpec(AnyType(), "model")])
    return ModelSignature(inputs=inputs, outputs=outputs)


def example_song(seconds: float = 4.0, sr: int = 8000) -> bytes:
    """A small WAV (16-bit, 8 kHz) of a chord with a pulse: the model's input example."""
    import soundfile as sf

    t = np.arange(int(seconds * sr)) / sr
    y = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    y = y * (0.6 + 0.4 * (t % 0.5 < 0.25))
    buf = io.BytesIO()
    sf.write(buf, y.astype(np.float32), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@contextlib.contextmanager
def _fluent_at(uri: str, experiment_id: str) -> Iterator[None]:
    """MLflow's model logging reads the global tracking URI and experiment (else it files
    the model under the Default experiment); point them at the run's and put the globals and
    environment variables back afterwards."""
    import mlflow
    from mlflow.tracking._tracking_service import utils

    before = utils._tracking_uri
    with _environ(MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT_ID=experiment_id):
        mlflow.set_tracking_uri(uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(before)  # which also sets the variable: _environ restores it


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def log_model(run: tracking.PipelineRun, model_path: str | Path,
              probe_path: str | Path) -> str | None:
    """Log the model of ``run`` as a pyfunc model (files' digests recorded on the run
    first), register it as a new version of :data:`MODEL_NAME` and return the version;
    None for a model that cannot predict from audio (lyrics input, whitened hybrid)."""
    with tempfile.TemporaryDirectory(prefix="genrevae-bundle-") as tmp, \
            _store(run.uri):
        bundle = Path(tmp) / BUNDLE
        try:
            song = example_song()
            digests = write_bundle(Path(model_path), Path(probe_path), bundle, example=song,
                                   provenance=_run_provenance(run))
        except DataError as exc:
            if isinstance(exc, ArtifactError):
                raise
            log.warning("model not logged to MLflow: %s", exc)
            run.client.set_tag(run.run_id, NOT_LOGGED_TAG, str(exc)[:500])
            return None
        # Before logging: MLflow loads the model to check its input example, and the
        # loader trusts no file without the run's digests.
        run.client.set_tag(run.run_id, DIGEST_TAG, json.dumps(digests, sort_keys=True))
        import mlflow.pyfunc
        import pandas as pd
        from mlflow.models import Model

        example = pd.DataFrame({"audio": [song], "name": ["example.wav"]})
        experiment_id = run.client.get_run(run.run_id).info.experiment_id
        with _fluent_at(run.uri, experiment_id):
            info = Model.log(artifact_path=None, name=ARTIFACT, flavor=mlflow.pyfunc,
                             run_id=run.run_id, loader_module=LOADER, data_path=str(bundle),
                             signature=signature(), input_example=example,
                             pip_requirements=_pins(), tags={DIGEST_TAG: json.dumps(digests)})
            # Inside: MLflow's registry looks the logged model up through the global tracking
            # URI, whose default is relative to the working folder (a `dvc queue` experiment
            # runs in a copy of the project, with a store of its own there).
            version = register(run.client, run.run_id, info.model_id, digests)
    log.info("model logged as %s version %s (runs:/%s/%s)", MODEL_NAME, version, run.run_id,
             ARTIFACT)
    return version


def _iso(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds")


def _run_provenance(run: tracking.PipelineRun) -> dict[str, str]:
    """The run, and when its pipeline started (the run's start time), for the logged probe."""
    info = run.client.get_run(run.run_id).info
    return {"run": run.name, "run_id": run.run_id, "trained": _iso(info.start_time)}


def _store_exists(uri: str) -> bool:
    """False for a SQLite store whose file does not exist (opening it would create it)."""
    if not uri.startswith("sqlite:///"):
        return True
    return Path(uri[len("sqlite:///"):]).is_file()


def folder_provenance(model_dir: str | Path) -> dict[str, Any]:
    """The run (and registered version) that logged the model in ``model_dir``, found in
    the tracking store by the SHA-256 of its ``model.pt``: the newest such run. Empty when
    the store has none or cannot be read (provenance is a courtesy here, never an error)."""
    from genrevae.serving.bundle import sha256
    from genrevae.serving.predict import MODEL_FILE

    uri = tracking.tracking_uri()
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file() or not _store_exists(uri):
        return {}
    try:
        client = tracking.mlflow_client(uri)
        experiment = client.get_experiment_by_name(os.environ.get("MLFLOW_EXPERIMENT_NAME",
                                                                  tracking.EXPERIMENT))
        if experiment is None:
            return {}
        found = client.search_runs([experiment.experiment_id],
                                   f"tags.`{DIGEST_TAG}` LIKE '%{sha256(path)}%'",
                                   max_results=1, order_by=["attributes.start_time DESC"])
        if not found:
            return {}
        run = found[0]
        mv = _run_version(client, run.info.run_id)
    except Exception as exc:  # an unreachable or refusing store: the provenance stays unknown
        log.debug("no provenance for %s from %s: %s", model_dir, uri, exc)
        return {}
    out = {"run": run.info.run_name, "run_id": run.info.run_id,
           "trained": _iso(run.info.start_time)}
    if mv is not None:
        out.update(version=str(mv.version), registered_model=MODEL_NAME)
    return out


def register(client: Any, run_id: str, model_id: str, digests: dict[str, str]) -> str:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(MODEL_NAME, description="genrevae: songs -> genre "
                                       "probabilities, nearest cluster and latent coordinates")
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    mv = client.create_model_version(MODEL_NAME, source=f"models:/{model_id}", run_id=run_id,
                                     model_id=model_id,
                                     tags={DIGEST_TAG: json.dumps(digests, sort_keys=True)})
    client.set_tag(run_id, VERSION_TAG, str(mv.version))
    return str(mv.version)


def find_run(client: Any, ref: str) -> Any:
    """The run named ``ref`` (a DVC experiment's name is its run's) or with id ``ref``."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(os.environ.get("MLFLOW_EXPERIMENT_NAME",
                                                              tracking.EXPERIMENT))
    if experiment is not None:
        quoted = ref.replace("'", "\\'")
        found = client.search_runs([experiment.experiment_id],
                                   f"attributes.run_name = '{quoted}'", max_results=2)
        if found:
            return found[0]
    with contextlib.suppress(MlflowException):
        return client.get_run(ref)
    raise GenreVAEError(f"no MLflow run named or with id {ref!r} in {client.tracking_uri}")


def _run_version(client: Any, run_id: str) -> Any | None:
    found = client.search_model_versions(f"name = '{MODEL_NAME}' and run_id = '{run_id}'")
    return max(found, key=lambda mv: int(mv.version)) if found else None


def promote(ref: str, alias: str = ALIAS) -> tuple[Any, Any]:
    """Point ``alias`` at the model version of run ``ref``; returns (run, version)."""
    uri = tracking.tracking_uri()
    client = tracking.mlflow_client(uri)
    with _store(uri):
        run = find_run(client, ref)
        mv = _run_version(client, run.info.run_id)
        if mv is None:
            raise GenreVAEError(f"run {run.info.run_name} ({run.info.run_id}) logged no "
                                f"{MODEL_NAME} model version (runs before the model was logged "
                                "have none; rerun the pipeline)")
        client.set_registered_model_alias(MODEL_NAME, alias, mv.version)
    return run, mv


@dataclass(frozen=True)
class Resolved:
    """A model URI as the store answers it: its run, registered version if any, and the
    digests recorded for its files."""

    uri: str
    run_id: str
    version: str | None
    digests: dict[str, str] | None


def resolve(client: Any, uri: str) -> Resolved:
    """``models:/genrevae@alias``, ``models:/genrevae/3`` or ``runs:/<id>/model``."""
    from mlflow.exceptions import MlflowException

    if uri.startswith("runs:/"):
        run_id = uri[len("runs:/"):].split("/", 1)[0]
        run = client.get_run(run_id)
        mv = _run_version(client, run_id)
        return Resolved(uri, run_id, mv and str(mv.version), _digests(run.data.tags))
    rest = uri[len("models:/"):]
    if "@" in rest:
        name, alias = rest.split("@", 1)
        mv = client.get_model_version_by_alias(name, alias)
    elif "/" in rest:
        name, number = rest.split("/", 1)
        mv = client.get_model_version(name, number)
    else:
        raise MlflowException(f"{uri}: expected models:/NAME@ALIAS or models:/NAME/VERSION")
    return Resolved(uri, mv.run_id, str(mv.version), _digests(mv.tags))


def _digests(tags: dict[str, str]) -> dict[str, str] | None:
    try:
        value = json.loads(tags.get(DIGEST_TAG, ""))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def recorded_for(model_root: Path) -> tuple[str, dict[str, str] | None, str | None]:
    """For a downloaded MLflow model: (run id, the run's recorded digests, its registered
    version), read from the tracking store, not from the model's own files."""
    import yaml

    try:
        meta = yaml.safe_load((model_root / "MLmodel").read_text())
        run_id = str(meta["run_id"])
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise ArtifactError(f"{model_root / 'MLmodel'}: unreadable or names no run "
                            f"({type(exc).__name__}); the model is refused") from exc
    uri = tracking.tracking_uri()
    client = tracking.mlflow_client(uri)
    with _store(uri):
        run = client.get_run(run_id)
        mv = _run_version(client, run_id)
    return run_id, _digests(run.data.tags), mv and str(mv.version)


def download(uri: str, dest: Path) -> tuple[Path, Resolved]:
    """Download the model at ``uri`` into ``dest``; returns (its data folder, what the
    store says of it). The files are not yet checked."""
    import mlflow.artifacts

    turi = tracking.tracking_uri()
    client = tracking.mlflow_client(turi)
    with _store(turi):
        resolved = resolve(client, uri)
        # models:/ is resolved in the registry, which MLflow would otherwise look for
        # relative to the working folder.
        with _environ(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
                      MLFLOW_REGISTRY_URI=os.environ.get("MLFLOW_REGISTRY_URI") or turi):
            local = Path(mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=str(dest), tracking_uri=turi))
    return local / "data" / BUNDLE, resolved


def is_uri(spec: str | Path) -> bool:
    return str(spec).startswith(("models:/", "runs:/"))


def load(data_path: str | Path, *, digests: dict[str, str] | None, version: str | None,
         what: str, condition: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Check the bundle at ``data_path`` against ``digests``, then load it (MLflow's
    loader, :mod:`genrevae.serving.pyfunc`, and :func:`open_model` both come here)."""
    from genrevae.serving.bundle import check_transform, provenance, verify
    from genrevae.serving.predict import Predictor

    folder = Path(data_path)
    verify(folder, digests, what=what)
    predictor = Predictor(folder, condition=condition)
    check_transform(folder, predictor)
    return predictor, provenance(predictor, version=version,
                                 name=MODEL_NAME if version else None)


def open_model(spec: str | Path, *, condition: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The predictor and provenance of ``spec``: a model folder, or a ``models:/`` or
    ``runs:/`` URI (downloaded, checked against the store's digests, then loaded)."""
    from genrevae.serving.bundle import provenance
    from genrevae.serving.predict import Predictor

    if not is_uri(spec):
        predictor = Predictor(spec, condition=condition)
        found = folder_provenance(spec)
        return predictor, provenance(predictor, version=found.pop("version", None),
                                     name=found.pop("registered_model", None), found=found)
    with tempfile.TemporaryDirectory(prefix="genrevae-model-") as tmp:
        folder, resolved = download(str(spec), Path(tmp))
        # Everything is read into memory here, so the download can go.
        return load(folder, digests=resolved.digests, version=resolved.version,
                    what=str(spec), condition=condition)

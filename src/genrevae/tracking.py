"""The one MLflow run per pipeline execution.

The ``evaluate`` stage, the sink of the pipeline, calls :func:`log_pipeline_run` once,
so every ``dvc repro`` or ``dvc exp run`` that changes anything yields exactly one run
holding the full composed params, the per-epoch losses as step metrics, every evaluation
metric and the plots. The run is named after the DVC experiment when there is one.

The tracking store is ``MLFLOW_TRACKING_URI`` when set, else a SQLite file in the project
root. DVC runs queued experiments in temporary copies of the repository but points
``DVC_ROOT`` at the real one, so the store (and artifact folder) always live there.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXPERIMENT = "genrevae"
DB_NAME = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"


def project_root() -> Path:
    """The DVC repository root (the parent repo, even inside a queued experiment)."""
    return Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()


def tracking_uri(root: Path | None = None) -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{(root or project_root()) / DB_NAME}"


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists and scalars are leaves."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _experiment_id(client: Any, name: str, root: Path, uri: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":  # deleted in the UI: runs cannot land there
            log.warning("MLflow experiment %r was deleted; restoring it", name)
            client.restore_experiment(found.experiment_id)
        return found.experiment_id
    # A local store keeps artifacts in the project root, not in DVC's temporary workdir.
    location = None if uri.startswith(("http://", "https://")) else (root / ARTIFACTS_DIR).as_uri()
    return client.create_experiment(name, artifact_location=location)


def log_pipeline_run(
    *,
    params: Mapping[str, Any],
    history: Sequence[Mapping[str, float]],
    metrics: Mapping[str, Any],
    artifacts: Iterable[str | Path],
    tags: Mapping[str, str] | None = None,
) -> str:
    """Create one finished MLflow run and return its id.

    ``params`` is the composed params tree (flattened to dotted keys), ``history`` the
    per-epoch losses (each key logged as a metric with ``step=epoch``), ``metrics`` the
    evaluation tree (flattened; None values skipped), ``artifacts`` files or folders.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy/pydantic deprecation chatter on import
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient

    root = project_root()
    uri = tracking_uri(root)
    client = MlflowClient(tracking_uri=uri)
    experiment_id = _experiment_id(client, os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT),
                                   root, uri)
    run_name = os.environ.get("DVC_EXP_NAME") or None
    all_tags = {"dvc.exp_name": run_name or "", "dvc.baseline_rev":
                os.environ.get("DVC_EXP_BASELINE_REV", ""), **(tags or {})}
    run = client.create_run(experiment_id, run_name=run_name,
                            tags={k: v for k, v in all_tags.items() if v})
    run_id = run.info.run_id
    try:
        now = int(time.time() * 1000)
        param_list = [Param(k, str(v)[:6000]) for k, v in sorted(flatten(params).items())]
        metric_list = [
            Metric(key, float(value), now, int(row["epoch"]))
            for row in history for key, value in row.items() if key != "epoch"
        ]
        metric_list += [
            Metric(key, float(value), now, 0)
            for key, value in sorted(flatten(metrics).items())
            if isinstance(value, int | float) and not isinstance(value, bool)
        ]
        for i in range(0, len(param_list), 100):
            client.log_batch(run_id, params=param_list[i : i + 100])
        for i in range(0, len(metric_list), 1000):
            client.log_batch(run_id, metrics=metric_list[i : i + 1000])
        client.log_batch(run_id, tags=[RunTag("mlflow.source.type", "LOCAL")])
        for item in artifacts:
            item = Path(item)
            if item.is_dir():
                client.log_artifacts(run_id, str(item), artifact_path=item.name)
            elif item.is_file():
                client.log_artifact(run_id, str(item))
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    log.info("MLflow run %s (%s) logged to %s", run_id, run_name or "unnamed", uri)
    return run_id

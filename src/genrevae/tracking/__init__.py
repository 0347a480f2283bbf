"""The one MLflow run per pipeline execution.

The ``evaluate`` stage, the sink of the pipeline, opens one run with :func:`pipeline_run`
when it starts and closes it when it ends, so every ``dvc repro`` or ``dvc exp run`` that
changes anything yields exactly one run. A run holds:

- the headline (see :mod:`genrevae.evaluation.headline`) under its short names, which
  are the columns of the MLflow runs table, and the per-epoch losses as step metrics;
  the full evaluation table is an artifact (``eval.json`` and ``eval_table.csv``), so the
  runs table is not hundreds of columns wide;
- the composed params, tags for model, input, data source, git commit and dirty state,
  the DVC experiment and its baseline, and the manifest as the run's dataset input;
- a start time taken from the first stage of this pipeline execution (training, when it
  reran), so the duration covers the work and not just the logging.

Runs are named after the DVC experiment, or else after model, input, latent size and
commit, with a counter when that name is taken: no two runs share a name. A run left
RUNNING by a killed ``evaluate`` on this host is closed as FAILED by the next one.

The tracking store is ``MLFLOW_TRACKING_URI`` when set, else a SQLite file in the project
root. DVC runs queued experiments in temporary copies of the repository but points
``DVC_ROOT`` at the real one, so the store (and artifact folder) always live there.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import os
import socket
import subprocess
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genrevae.errors import TrackingError
from genrevae.io import OWNED
from genrevae.tracking.params import RENAMED_TAG, flatten, mlflow_params, params_digest

log = logging.getLogger(__name__)

EXPERIMENT = "genrevae"
DB_NAME = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
# MLflow 3's UI opens an experiment on its GenAI view unless told it holds model training:
# up to 3.16 by this tag ("custom_model_development", the UI's CUSTOM_MODEL_DEVELOPMENT kind);
# 3.17 decides by the browser's workflow switch instead, which `genrevae ui` sets (ui_proxy).
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
# A view of the runs table saved on the experiment (MLflow's "shared view"): the headline
# columns first. MLflow 3 opens new visitors on its GenAI pages and shows no metric column
# until one is chosen; `make ui` prints the address of this view (see runs_page_url).
VIEW_KEY = "headline"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
# Tags by which a later run recognises a run whose process died before closing it.
PID_TAG, HOST_TAG = "genrevae.pid", "genrevae.host"
# An unreachable tracking server: MLflow's defaults retry 7 times with a backoff doubling
# from 2 s (about 4 min) and wait 120 s for each answer. These defaults (used unless the
# variable is set) give up after about 30 s of retries (0 + 2 + 4 + 8 + 16 s, plus up to
# 1 s of jitter each) and 10 s of silence per try.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
# Loggers that print a full traceback for a store error that MLflow then raises, and this
# module turns into one line (tracking_error): their records say nothing more.
_STORE_LOGGERS = ("mlflow.store.db.utils", "mlflow.store.tracking.sqlalchemy_store",
                  "mlflow.store.db", "alembic", "sqlalchemy")
# A configuration's key: DVC restoring evaluate from its run-cache logs no run, and the run
# tagged with the same digest is the record of those outputs (docs/sharing.md).
PARAMS_DIGEST_TAG = "genrevae.params_digest"


def project_root() -> Path:
    """The DVC repository root (the parent repo, even inside a queued experiment)."""
    return Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()


def tracking_uri(root: Path | None = None) -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{(root or project_root()) / DB_NAME}"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        value == value and abs(value) != float("inf")


@dataclass(frozen=True)
class DatasetInfo:
    """What a run was trained and scored on: logged as the run's dataset input."""

    name: str  # the data source (synthetic, gtzan, ...)
    path: Path  # the manifest: one row per track
    source: str  # where the audio came from (data.root), for the record
    profile: Mapping[str, Any]  # a few counts (tracks, segments, genres)

    def digest(self) -> str:

        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]


def runs_with_params(params: Mapping[str, Any], uri: str | None = None) -> list[Any]:
    """The finished runs logged for exactly these params, newest first."""
    client = mlflow_client(uri or tracking_uri())
    found = client.get_experiment_by_name(os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT))
    if found is None:
        return []
    return client.search_runs(
        [found.experiment_id], f"tags.`{PARAMS_DIGEST_TAG}` = '{params_digest(params)}' "
        "and attributes.status = 'FINISHED'", order_by=["attributes.start_time DESC"])


def git_state(root: Path, own: Iterable[str] = ()) -> dict[str, str]:
    """``git.commit`` and ``git.dirty`` of the working tree at ``root`` (empty outside a git
    repository). Files the pipeline itself writes (``own``: params.yaml, dvc.lock, stage
    outputs) do not make the tree dirty; any other change to a tracked file does, and
    ``git.changed`` names the first few."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=True, timeout=30).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        status = git("status", "--porcelain=v1", "-z", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return {}
    prefixes = tuple(str(p).rstrip("/") for p in own)
    changed = [entry[3:] for entry in status.split("\0") if len(entry) > 3]
    changed = [p for p in changed
               if not any(p == q or p.startswith(q + "/") for q in prefixes)]
    state = {"git.commit": commit, "mlflow.source.git.commit": commit,
             "git.dirty": "true" if changed else "false"}
    if changed:
        state["git.changed"] = ", ".join(changed[:10]) + (" ..." if len(changed) > 10 else "")
    return state


def mlflow_client(uri: str) -> Any:
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy/pydantic deprecation chatter on import
        from mlflow.tracking import MlflowClient
    for name in _STORE_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return MlflowClient(tracking_uri=uri)


def _experiment_id(client: Any, name: str, root: Path, uri: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is None:
        # A local store keeps artifacts in the project root, not in DVC's temporary workdir.
        location = (None if uri.startswith(("http://", "https://"))
                    else (root / ARTIFACTS_DIR).as_uri())
        return client.create_experiment(name, artifact_location=location,
                                        tags=dict([EXPERIMENT_KIND]))
    if found.lifecycle_stage == "deleted":  # deleted in the UI: runs cannot land there
        log.warning("MLflow experiment %r was deleted; restoring it", name)
        client.restore_experiment(found.experiment_id)
    mark_model_training(client, found)
    return found.experiment_id


def mark_model_training(client: Any, experiment: Any) -> None:
    """Tag ``experiment`` as model training (:data:`EXPERIMENT_KIND`) unless it is."""
    if experiment.tags.get(EXPERIMENT_KIND[0]) != EXPERIMENT_KIND[1]:
        client.set_experiment_tag(experiment.experiment_id, *EXPERIMENT_KIND)


def headline_view(metrics: Sequence[str], params: Sequence[str] = (),
                  tags: Sequence[str] = ()) -> dict[str, Any]:
    """The runs-table state (MLflow's view-state JSON) that shows ``metrics`` first, then
    ``params`` and ``tags``, newest run first."""
    columns = ([f"metrics.`{m}`" for m in metrics] + [f"params.`{p}`" for p in params]
               + [f"tags.`{t}`" for t in tags] + ["attributes.`Duration`", "attributes.`Dataset`"])
    return {
        "selectedColumns": columns,
        "columnOrder": ["tags.`mlflow.runName`", *columns],
        "columnWidths": {f"metrics.`{m}`": max(64, 9 * len(m) + 24) for m in metrics},
        "orderByKey": "attributes.start_time",
        "orderByAsc": False,
    }


def runs_page_url(base: str, experiment_id: str) -> str:
    """The runs table of the experiment in the headline view, in the model-training UI."""
    return (f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs"
            f"?workflowType=machine_learning&viewStateShareKey={VIEW_KEY}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def close_abandoned_runs(client: Any, experiment_id: str) -> list[str]:
    """Mark FAILED every RUNNING run that a process on this host opened and did not live
    to close (killed while evaluating or logging). Returns their ids. Runs of live
    processes (a parallel queue worker) and of other hosts are left alone."""
    host = socket.gethostname()
    closed = []
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'",
                                  max_results=1000):
        tags = run.data.tags
        pid = tags.get(PID_TAG, "")
        if tags.get(HOST_TAG) != host or not pid.isdigit() or _alive(int(pid)):
            continue
        client.set_tag(run.info.run_id, "genrevae.abandoned", "process ended before the run "
                       "was closed")
        client.set_terminated(run.info.run_id, "FAILED")
        closed.append(run.info.run_id)
        log.warning("MLflow run %s (%s) was left RUNNING by a process that is gone; marked "
                    "FAILED", run.info.run_id, run.info.run_name)
    return closed


def _name_taken(client: Any, experiment_id: str, name: str) -> bool:
    quoted = name.replace("'", "\\'")
    return bool(client.search_runs([experiment_id], f"attributes.run_name = '{quoted}'",
                                   max_results=1))


def unique_run_name(client: Any, experiment_id: str, wanted: str) -> str:
    """``wanted``, or ``wanted-2``, ``wanted-3``... : the first not yet used in the experiment."""
    name, n = wanted, 1
    while _name_taken(client, experiment_id, name):
        n += 1
        name = f"{wanted}-{n}"
    return name


def default_run_name(params: Mapping[str, Any], commit: str | None) -> str:
    """For a run outside a DVC experiment: model, input, latent size and commit."""
    model = params.get("model", {})
    parts = [str(model.get("name", "model")), str(model.get("input", "input")),
             f"z{params.get('latent_dim', model.get('latent_dim', '?'))}"]
    if commit:
        parts.append(commit[:7])
    return "-".join(parts)


def table_csv(metrics: Mapping[str, Any]) -> str:
    """The full evaluation tree as a two-column CSV (dotted key, value)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", "value"])
    for key, value in sorted(flatten(metrics).items()):
        writer.writerow([key, "" if value is None else value])
    return out.getvalue()


def tracking_error(uri: str, exc: Exception) -> TrackingError:
    """One line: MLflow's messages can span many (a server's HTML error page, say). For a
    database error it is the database's own message ("attempt to write a readonly
    database"), not SQLAlchemy's preamble about when it was raised."""
    orig = next((e.orig for e in _causes(exc) if getattr(e, "orig", None) is not None), None)
    source = orig if orig is not None else exc
    text = next((line.strip() for line in str(source).splitlines() if line.strip()),
                type(source).__name__)
    return TrackingError(f"MLflow tracking at {uri} failed: {text[:300]}")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


@contextlib.contextmanager
def _as_tracking_error(uri: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # the store is unreachable or refuses what is logged
        raise tracking_error(uri, exc) from exc


class PipelineRun:
    """An open MLflow run; :meth:`finish` logs the results. Made by :func:`pipeline_run`."""

    def __init__(self, client: Any, run_id: str, name: str, uri: str) -> None:
        self.client, self.run_id, self.name, self.uri = client, run_id, name, uri

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set tags on the run (what the results say about it, known only at the end)."""
        with _as_tracking_error(self.uri):
            for key, value in tags.items():
                self.client.set_tag(self.run_id, key, value)

    def finish(
        self,
        *,
        headline: Mapping[str, Any],
        history: Sequence[Mapping[str, float]],
        table: Mapping[str, Any],
        artifacts: Iterable[str | Path],
    ) -> None:
        """Log the headline (top-level metrics), the per-epoch losses (``step`` = epoch),
        the full ``table`` as ``eval_table.csv`` and the given files or folders."""
        with _as_tracking_error(self.uri):
            self._log(headline, history, table, artifacts)

    def _log(self, headline, history, table, artifacts) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metric_list = [
            Metric(key, float(value), now, int(row["epoch"]))
            for row in history for key, value in row.items() if key != "epoch" and _number(value)
        ]
        metric_list += [Metric(key, float(value), now, 0) for key, value in headline.items()
                        if _number(value)]
        for i in range(0, len(metric_list), 1000):
            self.client.log_batch(self.run_id, metrics=metric_list[i : i + 1000])
        self.client.log_text(self.run_id, table_csv(table), "eval_table.csv")
        for item in map(Path, artifacts):
            if item.is_dir():  # its files, without the marker that says the folder is ours
                for file in sorted(f for f in item.rglob("*") if f.is_file() and f.name != OWNED):
                    sub = file.parent.relative_to(item.parent).as_posix()
                    self.client.log_artifact(self.run_id, str(file), artifact_path=sub)
            elif item.is_file():
                self.client.log_artifact(self.run_id, str(item))


def _log_dataset(client: Any, run_id: str, dataset: DatasetInfo, columns: Sequence[str]) -> None:
    from mlflow.entities import Dataset, DatasetInput, InputTag

    entity = Dataset(
        name=dataset.name, digest=dataset.digest(), source_type="local",
        source=json.dumps({"uri": str(dataset.path), "root": dataset.source}),
        schema=json.dumps({"mlflow_colspec": [{"type": "string", "name": c} for c in columns]}),
        profile=json.dumps(dict(dataset.profile)),
    )
    client.log_inputs(run_id, [DatasetInput(entity, [InputTag("mlflow.data.context", "train")])])


@contextlib.contextmanager
def pipeline_run(
    *,
    params: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
    dataset: DatasetInfo | None = None,
    dataset_columns: Sequence[str] = (),
    own_paths: Iterable[str] = (),
    started: float | None = None,
    view: Mapping[str, Any] | None = None,
) -> Iterator[PipelineRun]:
    """Open the pipeline's MLflow run (RUNNING), yield it, and close it FINISHED, or
    FAILED when the body raises.

    ``params`` is the composed params tree (flattened to dotted keys); ``tags`` extra tags;
    ``own_paths`` what the pipeline writes (ignored for the git dirty state); ``started``
    the Unix time the pipeline execution began (default: now); ``view`` the runs-table
    state saved on the experiment (see :func:`headline_view`).
    """
    root = project_root()
    uri = tracking_uri(root)
    try:
        client = mlflow_client(uri)
        experiment_id = _experiment_id(client, os.environ.get("MLFLOW_EXPERIMENT_NAME",
                                                              EXPERIMENT), root, uri)
        close_abandoned_runs(client, experiment_id)
        if view is not None:
            client.set_experiment_tag(experiment_id, VIEW_TAG, json.dumps(view))
        git = git_state(Path.cwd(), own_paths)
        exp_name = os.environ.get("DVC_EXP_NAME", "")
        wanted = exp_name or default_run_name(params, git.get("git.commit")
                                              or os.environ.get("DVC_EXP_BASELINE_REV"))
        name = unique_run_name(client, experiment_id, wanted)
        all_tags = {
            "dvc.exp_name": exp_name,
            "dvc.baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV", ""),
            "mlflow.source.type": "LOCAL",
            "mlflow.source.name": "dvc exp run" if exp_name else "dvc repro",
            PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(),
            PARAMS_DIGEST_TAG: params_digest(params), **git, **(tags or {}),
        }
        start_ms = int((started if started is not None else time.time()) * 1000)
        logged, renamed = mlflow_params(params)
        if renamed:
            all_tags[RENAMED_TAG] = json.dumps(renamed, ensure_ascii=False)[:8000]
        run_id = client.create_run(experiment_id, start_time=start_ms, run_name=name,
                                   tags={k: v for k, v in all_tags.items() if v}).info.run_id
    except Exception as exc:
        raise tracking_error(uri, exc) from exc
    try:
        with _as_tracking_error(uri):
            from mlflow.entities import Param

            params_list = [Param(k, v) for k, v in sorted(logged.items())]
            for i in range(0, len(params_list), 100):
                client.log_batch(run_id, params=params_list[i : i + 100])
            if dataset is not None:
                _log_dataset(client, run_id, dataset, dataset_columns)
        yield PipelineRun(client, run_id, name, uri)
    except BaseException:
        with contextlib.suppress(Exception):
            client.set_terminated(run_id, "FAILED")
        raise
    with _as_tracking_error(uri):
        client.set_terminated(run_id, "FINISHED")
    log.info("MLflow run %s (%s) logged to %s", run_id, name, uri)

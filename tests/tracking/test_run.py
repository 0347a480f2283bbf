"""The one MLflow run per pipeline execution, written to and read back from a real SQLite store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from genrevae import tracking
from genrevae.errors import TrackingError
from genrevae.tracking import (
    EXPERIMENT,
    EXPERIMENT_KIND,
    VIEW_TAG,
    DatasetInfo,
    flatten,
    git_state,
    headline_view,
    pipeline_run,
    tracking_uri,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from mlflow.tracking import MlflowClient

PARAMS = {"seed": 1, "latent_dim": 4, "model": {"name": "vae", "input": "audio",
                                                "hidden_dims": [8, 4]}}
HISTORY = [{"epoch": 1, "train_loss": 3.0, "val_loss": 3.5},
           {"epoch": 2, "train_loss": 2.0, "val_loss": 2.5}]
HEADLINE = {"nmi": 0.5, "nmi_base": 0.4, "nmi_gain": 0.1, "silhouette": None, "active": 3}
TABLE = {"eval": {"latent": {"kmeans": {"test": {"nmi_genre": 0.5, "silhouette": None}}}}}
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
STARTED = 1_700_000_000.0

ENV_KEYS = ("MLFLOW_TRACKING_URI", "DVC_ROOT", "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV",
            "MLFLOW_EXPERIMENT_NAME")


def make_artifacts(folder: Path) -> list[Path]:
    """A PNG-like file and a folder of two files."""
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / "loss.png"
    png.write_bytes(PNG_BYTES)
    plots = folder / "plots"
    plots.mkdir(exist_ok=True)
    (plots / "latent.png").write_bytes(PNG_BYTES[::-1])
    (plots / "notes.txt").write_text("hello\n")
    (plots / ".genrevae-output").write_text("")  # the marker of a folder a stage wrote
    return [png, plots]


def log_run(*, headline=HEADLINE, history=HISTORY, artifacts=(), **kw) -> str:
    with pipeline_run(params=kw.pop("params", PARAMS), **kw) as run:
        run.finish(headline=headline, history=history, table=TABLE, artifacts=artifacts)
    return run.run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """One SQLite store for the module (creating it runs migrations, which take seconds),
    with the environment a DVC experiment run would have."""
    root = tmp_path_factory.mktemp("tracking").resolve()
    uri = f"sqlite:///{root}/mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        for key in ENV_KEYS:
            mp.delenv(key, raising=False)
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("DVC_ROOT", str(root))
        mp.setenv("DVC_EXP_NAME", "exp-test")
        mp.setenv("DVC_EXP_BASELINE_REV", "a" * 40)
        yield SimpleNamespace(root=root, uri=uri, client=MlflowClient(tracking_uri=uri), mp=mp)


@pytest.fixture(scope="module")
def logged(store: SimpleNamespace) -> SimpleNamespace:
    """The run under test: one pipeline run into the default experiment."""
    manifest = store.root / "manifest.csv"
    manifest.write_text("track_id,genre\nt1,rock\nt2,jazz\n")
    dataset = DatasetInfo(name="synthetic", path=manifest, source="/data",
                          profile={"tracks": 2})
    run_id = log_run(artifacts=make_artifacts(store.root / "out"), tags={"model": "vae"},
                     dataset=dataset, dataset_columns=["track_id", "genre"], started=STARTED,
                     view=headline_view(["nmi", "nmi_base"], params=["latent_dim"]))
    return SimpleNamespace(run_id=run_id, run=store.client.get_run(run_id), dataset=dataset)


@pytest.fixture
def experiment(store: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, request) -> str:
    """A fresh experiment name for tests that log extra runs (keeps 'genrevae' at one run)."""
    name = f"genrevae-{request.node.name}"
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", name)
    return name


def runs_of(client: MlflowClient, name: str) -> list:
    exp = client.get_experiment_by_name(name)
    assert exp is not None, name
    return client.search_runs([exp.experiment_id])


def test_exactly_one_finished_run(store: SimpleNamespace, logged: SimpleNamespace) -> None:
    """One run in experiment 'genrevae', named after the DVC experiment, FINISHED, starting
    when the pipeline started (not when logging began)."""
    runs = runs_of(store.client, EXPERIMENT)
    assert [r.info.run_id for r in runs] == [logged.run_id]
    info = logged.run.info
    assert info.run_name == "exp-test"
    assert info.status == "FINISHED"
    assert info.start_time == int(STARTED * 1000)
    assert info.end_time is not None and info.end_time > info.start_time


def test_tags_say_where_the_run_came_from(logged: SimpleNamespace) -> None:
    tags = logged.run.data.tags
    assert tags["dvc.exp_name"] == "exp-test"
    assert tags["dvc.baseline_rev"] == "a" * 40
    assert tags["model"] == "vae"
    assert tags["mlflow.source.name"] == "dvc exp run"
    assert tags[tracking.HOST_TAG] == socket.gethostname()
    assert tags[tracking.PID_TAG] == str(os.getpid())


def test_experiment_opens_on_runs_and_holds_the_headline_view(store: SimpleNamespace,
                                                             logged: SimpleNamespace) -> None:
    """The experiment is tagged for model training, and the shared view lists the headline
    metrics first."""
    exp = store.client.get_experiment_by_name(EXPERIMENT)
    assert exp.tags[EXPERIMENT_KIND[0]] == EXPERIMENT_KIND[1] == "custom_model_development"
    view = json.loads(exp.tags[VIEW_TAG])
    assert view["selectedColumns"][:3] == ["metrics.`nmi`", "metrics.`nmi_base`",
                                           "params.`latent_dim`"]
    assert view["columnOrder"][0] == "tags.`mlflow.runName`"
    url = tracking.runs_page_url("http://127.0.0.1:5000/", exp.experiment_id)
    assert url == (f"http://127.0.0.1:5000/#/experiments/{exp.experiment_id}/runs"
                   "?workflowType=machine_learning&viewStateShareKey=headline")


def test_dataset_input_carries_the_manifest_digest(logged: SimpleNamespace) -> None:
    inputs = logged.run.inputs.dataset_inputs
    assert len(inputs) == 1
    ds = inputs[0].dataset
    assert ds.name == "synthetic"
    assert ds.digest == logged.dataset.digest() and len(ds.digest) == 16
    assert json.loads(ds.profile) == {"tracks": 2}
    assert json.loads(ds.source)["root"] == "/data"
    assert [c["name"] for c in json.loads(ds.schema)["mlflow_colspec"]] == ["track_id", "genre"]
    assert {(t.key, t.value) for t in inputs[0].tags} == {("mlflow.data.context", "train")}


def test_params_are_flattened_strings(logged: SimpleNamespace) -> None:
    """Params are the dotted keys of the params tree, values as strings."""
    assert logged.run.data.params == {
        "seed": "1",
        "latent_dim": "4",
        "model.name": "vae",
        "model.input": "audio",
        "model.hidden_dims": "[8, 4]",
    }


@pytest.mark.parametrize(("key", "values"), [("train_loss", [3.0, 2.0]),
                                             ("val_loss", [3.5, 2.5])])
def test_history_is_step_metrics(store: SimpleNamespace, logged: SimpleNamespace, key: str,
                                 values: list[float]) -> None:
    """Each history key becomes a metric with one value per epoch, step = epoch."""
    history = sorted(store.client.get_metric_history(logged.run_id, key), key=lambda m: m.step)
    assert [m.step for m in history] == [1, 2]
    assert [m.value for m in history] == values
    assert logged.run.data.metrics[key] == values[-1]  # latest step


def test_only_the_headline_and_losses_are_metrics(logged: SimpleNamespace) -> None:
    """The headline under its short names (None left out) and the losses; the full table
    is not spread over metric columns."""
    assert logged.run.data.metrics == {"train_loss": 2.0, "val_loss": 2.5, "nmi": 0.5,
                                       "nmi_base": 0.4, "nmi_gain": 0.1, "active": 3.0}


def test_full_table_is_a_csv_artifact(store: SimpleNamespace, logged: SimpleNamespace,
                                      tmp_path: Path) -> None:
    local = Path(store.client.download_artifacts(logged.run_id, "eval_table.csv", str(tmp_path)))
    assert local.read_text().splitlines() == [
        "metric,value",
        "eval.latent.kmeans.test.nmi_genre,0.5",
        "eval.latent.kmeans.test.silhouette,",
    ]


def test_artifacts_listed_and_intact(store: SimpleNamespace, logged: SimpleNamespace,
                                     tmp_path: Path) -> None:
    """The file is logged at the top, the folder under its own name (without the marker
    that says a stage wrote it), bytes unchanged."""
    top = {(a.path, a.is_dir) for a in store.client.list_artifacts(logged.run_id)}
    assert top == {("loss.png", False), ("plots", True), ("eval_table.csv", False)}
    inner = {a.path for a in store.client.list_artifacts(logged.run_id, "plots")}
    assert inner == {"plots/latent.png", "plots/notes.txt"}
    local = Path(store.client.download_artifacts(logged.run_id, "loss.png", str(tmp_path)))
    assert local.read_bytes() == PNG_BYTES


def test_store_and_artifacts_live_in_dvc_root(store: SimpleNamespace,
                                              logged: SimpleNamespace) -> None:
    """The SQLite file and the artifact folder are created under DVC_ROOT."""
    assert (store.root / "mlflow.db").is_file()
    exp = store.client.get_experiment_by_name(EXPERIMENT)
    assert exp.artifact_location == (store.root / "mlartifacts").as_uri()
    assert (store.root / "mlartifacts").is_dir()


def test_run_names_never_repeat(store: SimpleNamespace, experiment: str,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside a DVC experiment the name says model, input and latent size; a second run
    with the same settings gets a counter, and a DVC name that exists is not reused."""
    monkeypatch.delenv("DVC_EXP_NAME")
    monkeypatch.delenv("DVC_EXP_BASELINE_REV")
    monkeypatch.chdir(store.root)  # not a git repository: no commit in the name
    first, second = log_run(), log_run()
    names = {store.client.get_run(r).info.run_name for r in (first, second)}
    assert names == {"vae-audio-z4", "vae-audio-z4-2"}
    assert store.client.get_run(first).data.tags["mlflow.source.name"] == "dvc repro"
    assert "dvc.exp_name" not in store.client.get_run(first).data.tags
    monkeypatch.setenv("DVC_EXP_NAME", "vae-audio-z4")
    assert store.client.get_run(log_run()).info.run_name == "vae-audio-z4-3"


def test_failure_marks_run_failed(store: SimpleNamespace, experiment: str) -> None:
    """An error in the body re-raises and marks the run FAILED."""
    with pytest.raises(KeyError, match="boom"), pipeline_run(params={}):
        raise KeyError("boom")
    runs = runs_of(store.client, experiment)
    assert [r.info.status for r in runs] == ["FAILED"]


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_abandoned_running_run_is_closed_as_failed(store: SimpleNamespace,
                                                   experiment: str) -> None:
    """A RUNNING run whose process on this host is gone is marked FAILED by the next run;
    one whose process lives (a parallel worker) and one from another host are left alone."""
    exp_id = store.client.create_experiment(experiment)
    host = socket.gethostname()
    dead = store.client.create_run(exp_id, run_name="killed", tags={
        tracking.PID_TAG: str(_dead_pid()), tracking.HOST_TAG: host}).info.run_id
    alive = store.client.create_run(exp_id, run_name="working", tags={
        tracking.PID_TAG: str(os.getpid()), tracking.HOST_TAG: host}).info.run_id
    remote = store.client.create_run(exp_id, run_name="elsewhere", tags={
        tracking.PID_TAG: "1", tracking.HOST_TAG: host + "-other"}).info.run_id
    new = log_run()
    status = {r: store.client.get_run(r).info.status for r in (dead, alive, remote, new)}
    assert status == {dead: "FAILED", alive: "RUNNING", remote: "RUNNING", new: "FINISHED"}
    assert "genrevae.abandoned" in store.client.get_run(dead).data.tags


def test_unusable_store_is_one_tracking_error(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A store that cannot be opened is a TrackingError naming the URI, before any work."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    uri = f"sqlite:///{blocker}/mlflow.db"  # a path below a regular file
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(TrackingError, match="MLflow tracking at sqlite:") as info, \
            pipeline_run(params={}):
        pytest.fail("the body must not run")
    assert "\n" not in str(info.value)


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_git_state_ignores_what_the_pipeline_writes(tmp_path: Path) -> None:
    """Commit and dirty state: the pipeline's own files (params, lock, outputs) do not
    count as a change, code does; outside a repository there is nothing to say."""
    assert git_state(tmp_path) == {}
    _git(tmp_path, "init", "-q")
    for name in ("params.yaml", "code.py"):
        (tmp_path / name).write_text("a\n")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "headline.json").write_text("{}\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "x")
    own = ["params.yaml", "metrics/headline.json"]
    clean = git_state(tmp_path, own)
    assert clean["git.dirty"] == "false" and len(clean["git.commit"]) == 40
    assert clean["mlflow.source.git.commit"] == clean["git.commit"]
    (tmp_path / "params.yaml").write_text("b\n")
    (tmp_path / "metrics" / "headline.json").write_text("{\"nmi\": 1}\n")
    assert git_state(tmp_path, own)["git.dirty"] == "false"
    (tmp_path / "code.py").write_text("b\n")
    dirty = git_state(tmp_path, own)
    assert dirty["git.dirty"] == "true" and dirty["git.changed"] == "code.py"


def test_tracking_uri_defaults_to_dvc_root(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Without MLFLOW_TRACKING_URI the store is sqlite:///<DVC_ROOT>/mlflow.db."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert tracking.project_root() == tmp_path.resolve()
    assert tracking_uri(Path("/elsewhere")) == "sqlite:////elsewhere/mlflow.db"


def test_tracking_uri_falls_back_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without DVC_ROOT either, the project root is the working directory."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_tracking_uri_env_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLFLOW_TRACKING_URI, when set, is used as is."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    monkeypatch.setenv("DVC_ROOT", "/somewhere")
    assert tracking_uri() == "http://mlflow.example:5000"


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        ({}, {}),
        ({"a": 1}, {"a": 1}),
        ({"a": {"b": 1, "c": {"d": None}}, "e": [1, {"f": 2}]},
         {"a.b": 1, "a.c.d": None, "e": [1, {"f": 2}]}),
        ({"a": {}}, {}),
        ({"x": {"y": {"z": "deep"}}, "x.y": "flat"}, {"x.y.z": "deep", "x.y": "flat"}),
    ],
)
def test_flatten(tree: dict, expected: dict) -> None:
    """Nested mappings become dotted keys; lists and scalars are leaves."""
    assert flatten(tree) == expected


def test_flatten_prefix() -> None:
    """A prefix is prepended to every key."""
    assert flatten({"a": {"b": 2}}, prefix="p.") == {"p.a.b": 2}

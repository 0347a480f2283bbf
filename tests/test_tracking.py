"""The one MLflow run per pipeline execution, written to and read back from a real SQLite store."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from genrevae import tracking
from genrevae.tracking import EXPERIMENT, flatten, log_pipeline_run, tracking_uri

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from mlflow.tracking import MlflowClient

PARAMS = {"seed": 1, "model": {"latent_dim": 4, "hidden_dims": [8, 4]}}
HISTORY = [{"epoch": 1, "train_loss": 3.0, "val_loss": 3.5},
           {"epoch": 2, "train_loss": 2.0, "val_loss": 2.5}]
METRICS = {"eval": {"latent": {"kmeans": {"test": {"nmi_genre": 0.5, "silhouette": None}}}}}
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(64))

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
    return [png, plots]


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
        yield SimpleNamespace(root=root, uri=uri, client=MlflowClient(tracking_uri=uri), mp=mp)


@pytest.fixture(scope="module")
def logged(store: SimpleNamespace) -> SimpleNamespace:
    """The run under test: one log_pipeline_run call into the default experiment."""
    artifacts = make_artifacts(store.root / "out")
    run_id = log_pipeline_run(params=PARAMS, history=HISTORY, metrics=METRICS,
                              artifacts=artifacts)
    return SimpleNamespace(run_id=run_id, run=store.client.get_run(run_id))


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
    """One run in experiment 'genrevae', named after the DVC experiment, FINISHED."""
    runs = runs_of(store.client, EXPERIMENT)
    assert [r.info.run_id for r in runs] == [logged.run_id]
    info = logged.run.info
    assert info.run_name == "exp-test"
    assert info.status == "FINISHED"
    assert info.end_time is not None and info.end_time >= info.start_time
    assert logged.run.data.tags["dvc.exp_name"] == "exp-test"
    assert "dvc.baseline_rev" not in logged.run.data.tags  # empty tags are not written


def test_store_and_artifacts_live_in_dvc_root(store: SimpleNamespace,
                                              logged: SimpleNamespace) -> None:
    """The SQLite file and the artifact folder are created under DVC_ROOT."""
    assert (store.root / "mlflow.db").is_file()
    exp = store.client.get_experiment_by_name(EXPERIMENT)
    assert exp.artifact_location == (store.root / "mlartifacts").as_uri()
    assert (store.root / "mlartifacts").is_dir()


def test_params_are_flattened_strings(logged: SimpleNamespace) -> None:
    """Params are the dotted keys of the params tree, values as strings."""
    assert logged.run.data.params == {
        "seed": "1",
        "model.latent_dim": "4",
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


def test_eval_metrics_flattened_and_none_skipped(logged: SimpleNamespace) -> None:
    """Evaluation metrics are logged under dotted keys; None values are left out."""
    metrics = logged.run.data.metrics
    assert metrics["eval.latent.kmeans.test.nmi_genre"] == 0.5
    assert "eval.latent.kmeans.test.silhouette" not in metrics
    assert "epoch" not in metrics
    assert set(metrics) == {"train_loss", "val_loss", "eval.latent.kmeans.test.nmi_genre"}


def test_artifacts_listed_and_intact(store: SimpleNamespace, logged: SimpleNamespace,
                                     tmp_path: Path) -> None:
    """The file is logged at the top, the folder under its own name, bytes unchanged."""
    top = {(a.path, a.is_dir) for a in store.client.list_artifacts(logged.run_id)}
    assert top == {("loss.png", False), ("plots", True)}
    inner = {a.path for a in store.client.list_artifacts(logged.run_id, "plots")}
    assert inner == {"plots/latent.png", "plots/notes.txt"}
    local = Path(store.client.download_artifacts(logged.run_id, "loss.png", str(tmp_path)))
    assert local.read_bytes() == PNG_BYTES


def test_each_call_creates_one_run(store: SimpleNamespace, experiment: str,
                                   tmp_path: Path) -> None:
    """Two calls give two runs; missing artifacts are skipped; bools and strings are no metrics."""
    metrics = {"a": {"ok": 1, "flag": True, "label": "x", "none": None}}
    first = log_pipeline_run(params={"seed": 1}, history=HISTORY, metrics=metrics,
                             artifacts=[tmp_path / "missing.png"])
    assert len(runs_of(store.client, experiment)) == 1
    second = log_pipeline_run(params={"seed": 2}, history=[], metrics={}, artifacts=[],
                              tags={"note": "again"})
    runs = runs_of(store.client, experiment)
    assert {r.info.run_id for r in runs} == {first, second}
    assert all(r.info.status == "FINISHED" for r in runs)
    run1, run2 = store.client.get_run(first), store.client.get_run(second)
    assert run1.data.metrics == {"train_loss": 2.0, "val_loss": 2.5, "a.ok": 1.0}
    assert store.client.list_artifacts(first) == []
    assert run2.data.params == {"seed": "2"}
    assert run2.data.tags["note"] == "again"


def test_unnamed_without_dvc_experiment(store: SimpleNamespace, experiment: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside `dvc exp run` (no DVC_EXP_NAME) the run still finishes, without the DVC tag."""
    monkeypatch.delenv("DVC_EXP_NAME")
    run_id = log_pipeline_run(params={}, history=HISTORY, metrics={}, artifacts=[])
    run = store.client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name != "exp-test"
    assert "dvc.exp_name" not in run.data.tags


def test_failure_marks_run_failed(store: SimpleNamespace, experiment: str) -> None:
    """An error while logging (a history row without 'epoch') re-raises and marks the run FAILED."""
    with pytest.raises(KeyError, match="epoch"):
        log_pipeline_run(params={}, history=[{"train_loss": 1.0}], metrics={}, artifacts=[])
    runs = runs_of(store.client, experiment)
    assert [r.info.status for r in runs] == ["FAILED"]


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

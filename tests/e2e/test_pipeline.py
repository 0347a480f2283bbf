"""The real pipeline, end to end: `dvc repro`, incremental reruns, `dvc exp run -S`, a
queued sweep, and the MLflow runs they leave (SQLite store and a real server).

Tests in this file run in order against one temporary clone (see conftest.project).
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from genrevae.features.audio import handcrafted_columns

from .conftest import stages_run

pytestmark = pytest.mark.e2e

ALL_STAGES = {"prepare", "extract_audio", "embed_lyrics", "fuse", "train", "cluster", "evaluate",
              "eda"}


def _mlflow_runs(root: Path, uri: str | None = None) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri or f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("genrevae")
    if exp is None:
        return []
    return client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])


def _check_metric_ranges(metrics: dict) -> None:
    assert set(metrics) >= {"latent", "pca", "raw", "data"}
    for rep in ("latent", "pca", "raw"):
        assert set(metrics[rep]) == {"kmeans", "agglomerative", "dbscan", "probe"}
        probe = metrics[rep]["probe"]
        for key in ("segment_accuracy", "track_accuracy", "segment_macro_f1", "track_macro_f1"):
            assert 0.0 <= probe[key] <= 1.0, (rep, key)
        for algo, scopes in ((a, s) for a, s in metrics[rep].items() if a != "probe"):
            assert set(scopes) == {"test", "all"}, (rep, algo)
            for scope, m in scopes.items():
                where = f"{rep}.{algo}.{scope}"
                for key in ("nmi_genre", "nmi_language"):
                    assert 0.0 <= m[key] <= 1.0, where
                for key in ("ari_genre", "ari_language"):
                    assert -1.0 <= m[key] <= 1.0, where
                for key in ("matched_accuracy_genre", "purity_genre"):
                    assert 0.0 <= m[key] <= 1.0, where
                assert m["matched_accuracy_genre"] <= m["purity_genre"] + 1e-9, where
                assert 0.0 <= m["noise_fraction"] <= 1.0, where
                if algo != "dbscan":
                    assert m["noise_fraction"] == 0.0, where
                if m["silhouette"] is not None:
                    assert -1.0 <= m["silhouette"] <= 1.0, where
                    assert m["davies_bouldin"] >= 0.0 and m["calinski_harabasz"] >= 0.0


def test_repro_builds_every_artifact(project):
    proc = project.dvc("repro")
    assert stages_run(proc.stdout) == ALL_STAGES
    root = project.root
    params = yaml.safe_load((root / "params.yaml").read_text())

    manifest = (root / params["paths"]["manifest"]).read_text(encoding="utf-8").splitlines()
    assert manifest[0].startswith("track_id,path,genre,language,source,lyrics,split,group,")
    segments = np.genfromtxt(root / params["paths"]["segments"], delimiter=",", names=True,
                             dtype=None, encoding="utf-8")
    n_seg = len(segments)
    assert n_seg == 16 * 2  # 16 tracks of 6 s, 3-s segments
    mel = np.load(root / params["paths"]["mel"])
    assert mel.shape == (n_seg, 128, 130) and mel.dtype == np.float32
    hand = np.load(root / params["paths"]["handcrafted"])
    assert hand.shape == (n_seg, len(handcrafted_columns())) and np.isfinite(hand).all()
    z = np.load(root / params["paths"]["latent"])
    assert z.shape == (n_seg, 4) and np.isfinite(z).all()
    assert (root / params["paths"]["model"]).stat().st_size > 0

    train = json.loads((root / params["paths"]["train_metrics"]).read_text())
    assert 1 <= train["best_epoch"] <= train["epochs_run"] <= 3
    metrics = json.loads((root / params["paths"]["eval_metrics"]).read_text())
    _check_metric_ranges(metrics)
    assert metrics["data"]["n_segments"] == n_seg

    pngs = sorted(p.name for p in (root / params["paths"]["eval_plots"]).glob("*.png"))
    assert pngs == ["cluster_vs_genre.png", "latent_spectral_genre.png",
                    "latent_spectral_language.png", "latent_traversal.png", "latent_tsne_genre.png",
                    "latent_tsne_language.png", "probe_confusion.png", "reconstructions.png"]
    model = metrics["model"]
    assert 0 <= model["active_units"] <= model["latent_dim"] == 4
    assert model["kl"] >= 0 and model["recon_mse"] > 0
    assert (root / params["paths"]["probe"]).is_file()
    for png in [*(root / params["paths"]["eval_plots"]).glob("*.png"),
                root / params["paths"]["loss_plot"]]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    runs = _mlflow_runs(root)
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["model.latent_dim"] == "4"
    assert run.data.params["data.synthetic.tracks_per_genre"] == "4"
    assert run.data.metrics["eval.latent.kmeans.test.nmi_genre"] == pytest.approx(
        metrics["latent"]["kmeans"]["test"]["nmi_genre"])
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert [m.step for m in history] == list(range(1, train["epochs_run"] + 1))
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "eval")}
    assert "eval/latent_tsne_genre.png" in artifacts
    assert run.data.metrics["eval.latent.probe.track_accuracy"] == pytest.approx(
        metrics["latent"]["probe"]["track_accuracy"])
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "first repro")


def test_second_repro_runs_nothing(project):
    proc = project.dvc("repro")
    assert stages_run(proc.stdout) == set()
    assert len(_mlflow_runs(project.root)) == 1


def test_same_params_give_same_metrics(project):
    """Reproducible: retraining with the same seed reproduces the latents and every metric."""
    root = project.root
    before = (root / "metrics" / "eval.json").read_text()
    z_before = np.load(root / "data" / "latent" / "z.npy")
    proc = project.dvc("repro", "--force", "--downstream", "train")
    assert stages_run(proc.stdout) == {"train", "cluster", "evaluate"}
    np.testing.assert_array_equal(np.load(root / "data" / "latent" / "z.npy"), z_before)
    assert json.loads((root / "metrics" / "eval.json").read_text()) == json.loads(before)


def test_cluster_param_reruns_only_cluster_and_evaluate(project):
    path = project.root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["cluster"]["k"] = 3
    path.write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    proc = project.dvc("repro")
    assert stages_run(proc.stdout) == {"cluster", "evaluate"}
    project.git("checkout", "--", "params.yaml")
    project.dvc("repro")


def test_exp_run_latent_dim_skips_feature_stages(project):
    n_runs = len(_mlflow_runs(project.root))
    proc = project.dvc("exp", "run", "-n", "lat8", "-S", "latent_dim=8")
    ran = stages_run(proc.stdout)
    assert "train" in ran
    assert not ran & {"prepare", "extract_audio", "embed_lyrics", "fuse"}
    assert np.load(project.root / "data" / "latent" / "z.npy").shape[1] == 8

    shown = json.loads(project.dvc("exp", "show", "--json").stdout)
    assert "lat8" in json.dumps(shown)
    diff = json.loads(project.dvc("metrics", "diff", "--json").stdout)
    assert "metrics/eval.json" in diff

    runs = _mlflow_runs(project.root)
    assert len(runs) == n_runs + 1
    assert runs[-1].info.run_name == "lat8"
    assert runs[-1].data.params["model.latent_dim"] == "8"


def test_exp_run_beta_lands_on_mlflow_server(project, mlflow_server):
    """`dvc exp run -S model.beta=4` with MLFLOW_TRACKING_URI pointing at a real server:
    the run is found through the server's REST API."""
    n_local = len(_mlflow_runs(project.root))
    project.dvc("exp", "run", "-n", "beta4", "-S", "model.beta=4",
                env={"MLFLOW_TRACKING_URI": mlflow_server})
    assert len(_mlflow_runs(project.root)) == n_local  # nothing went to the local store

    with urllib.request.urlopen(
        f"{mlflow_server}/api/2.0/mlflow/experiments/get-by-name?experiment_name=genrevae"
    ) as r:
        exp_id = json.load(r)["experiment"]["experiment_id"]
    req = urllib.request.Request(
        f"{mlflow_server}/api/2.0/mlflow/runs/search",
        data=json.dumps({"experiment_ids": [exp_id]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as r:
        runs = json.load(r)["runs"]
    assert len(runs) == 1
    run = runs[0]
    assert run["info"]["run_name"] == "beta4"
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["model.beta"] == "4"
    metrics = {m["key"] for m in run["data"]["metrics"]}
    assert {"val_loss", "eval.pca.kmeans.test.nmi_genre", "eval.raw.dbscan.all.noise_fraction"} <= metrics

    shown = json.dumps(json.loads(project.dvc("exp", "show", "--json").stdout))
    assert "lat8" in shown and "beta4" in shown


def test_queued_sweep_lands_one_run_per_experiment(project):
    """The README's sweep, `dvc exp run --queue -S 'model=vae,ae' -S 'latent_dim=2,3'` then
    `dvc queue start`: one experiment per combination of a model-group choice and a value,
    each run in a temporary copy, and each leaves its MLflow run in the project's store."""
    n_runs = len(_mlflow_runs(project.root))
    project.dvc("exp", "run", "--queue", "-S", "model=vae,ae", "-S", "latent_dim=2,3")
    project.dvc("queue", "start", "-j", "1")
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            status = project.dvc("queue", "status").stdout
            if "Queued" not in status and "Running" not in status:
                break
            time.sleep(3)
        else:
            pytest.fail(f"queue did not finish:\n{status}")
    finally:
        project.dvc("queue", "stop", "--kill", check=False)
    assert status.count("Success") == 4, status
    runs = _mlflow_runs(project.root)
    assert len(runs) == n_runs + 4
    combos = sorted((r.data.params["model.name"], r.data.params["model.latent_dim"])
                    for r in runs[-4:])
    assert combos == [("ae", "2"), ("ae", "3"), ("vae", "2"), ("vae", "3")]
    assert all(r.info.run_name for r in runs[-4:])


def test_exp_run_on_real_gtzan_wavs(project, shared_data):
    """`dvc exp run -S data=gtzan -S data.root=...` on the 14 GTZAN WAVs and one MP3."""
    root = shared_data / "gtzan_sample"
    proc = project.dvc("exp", "run", "-n", "gtzan-sample", "-S", "data=gtzan",
                       "-S", f"data.root={root}", "-S", "train.epochs=2")
    assert {"prepare", "extract_audio", "eda"} <= stages_run(proc.stdout)
    manifest = (project.root / "data/prepared/manifest.csv").read_text().splitlines()
    assert len(manifest) == 1 + 15
    assert (project.root / "data/prepared/rejected.csv").read_text().strip() == \
        "path,source,reason,detail"
    metrics = json.loads((project.root / "metrics/eval.json").read_text())
    _check_metric_ranges(metrics)
    assert metrics["data"]["n_tracks"] == 15 and metrics["data"]["n_genres"] == 10
    report = (project.root / "reports/eda.md").read_text()
    assert "15 tracks in 10 genres" in report
    assert len(list((project.root / "plots/eda").glob("*.png"))) == 9


def test_exp_run_on_kaggle_feature_table(project, shared_data):
    """`data=features_table` skips audio extraction and runs the rest on the Kaggle table;
    its exact duplicate rows are left out with their reason."""
    table = shared_data / "gtzan_features_30_sec.csv"
    proc = project.dvc("exp", "run", "-n", "kaggle-table", "-S", "data=features_table",
                       "-S", f"data.root={table}", "-S", "train.epochs=2")
    assert {"prepare", "extract_audio", "train", "evaluate"} <= stages_run(proc.stdout)
    assert not (project.root / "data/features/audio/mel.npy").exists()
    rejected = (project.root / "data/prepared/rejected.csv").read_text().splitlines()[1:]
    assert rejected and all(",duplicate," in line for line in rejected)
    metrics = json.loads((project.root / "metrics/eval.json").read_text())
    _check_metric_ranges(metrics)
    assert metrics["data"]["n_tracks"] == 1000 - len(rejected)
    assert metrics["data"]["n_genres"] == 10


@pytest.mark.parametrize("variant", ["conv_vae", "cvae", "vade", "ae"])
def test_exp_run_each_model_variant(project, variant):
    """Every model variant runs through the real pipeline as a DVC experiment and lands in
    the same metrics table; conv_vae reads the log-mel, the others the features."""
    overrides = ["-S", f"model={variant}", "-S", "train.epochs=2"]
    if variant == "vade":
        overrides += ["-S", "model.pretrain_epochs=1"]
    proc = project.dvc("exp", "run", "-n", f"variant-{variant}", *overrides)
    assert "train" in stages_run(proc.stdout)
    assert not stages_run(proc.stdout) & {"prepare", "embed_lyrics"}
    metrics = json.loads((project.root / "metrics/eval.json").read_text())
    _check_metric_ranges(metrics)
    if variant == "ae":
        assert metrics["model"]["kl"] == 0.0
    else:
        assert metrics["model"]["kl"] > 0.0
    runs = _mlflow_runs(project.root)
    assert runs[-1].info.run_name == f"variant-{variant}"
    assert runs[-1].data.params["model.name"] == variant

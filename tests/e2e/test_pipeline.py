"""The real pipeline, end to end: `dvc repro`, incremental reruns, `dvc exp run -S`, a
queued sweep, and the MLflow runs they leave (SQLite store and a real server).

Tests in this file run in order against one temporary clone (see conftest.project).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from genrevae.evaluation.headline import KEYS
from genrevae.features.audio import handcrafted_columns

from .conftest import BIN, browse, running_mlflow_server, stages_run

pytestmark = pytest.mark.e2e

ALL_STAGES = {"check", "prepare", "extract_audio", "embed_lyrics", "fuse", "train", "cluster", "evaluate",
              "eda"}


def _mlflow_runs(root: Path, uri: str | None = None) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri or f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("genrevae")
    if exp is None:
        return []
    return client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])


def _check_report(m: dict, where: str, *, noise_free: bool) -> None:
    for key in ("nmi_genre", "nmi_language"):
        assert 0.0 <= m[key] <= 1.0, where
    for key in ("ari_genre", "ari_language"):
        assert -1.0 <= m[key] <= 1.0, where
    for key in ("matched_accuracy_genre", "purity_genre"):
        assert 0.0 <= m[key] <= 1.0, where
    assert m["matched_accuracy_genre"] <= m["purity_genre"] + 1e-9, where
    assert 0.0 <= m["noise_fraction"] <= 1.0, where
    if noise_free:
        assert m["noise_fraction"] == 0.0, where
    if m["silhouette"] is not None:
        assert -1.0 <= m["silhouette"] <= 1.0, where
        assert m["davies_bouldin"] >= 0.0 and m["calinski_harabasz"] >= 0.0


REPRESENTATIONS = ("latent", "pca", "pca_white", "raw")


def _check_metric_ranges(metrics: dict) -> None:
    assert set(metrics) >= {*REPRESENTATIONS, "data", "leakage"}
    for rep in REPRESENTATIONS:
        assert set(metrics[rep]) == {"kmeans", "agglomerative", "dbscan", "probe", "track"}
        probe = metrics[rep]["probe"]
        for key in ("segment_accuracy", "track_accuracy", "segment_macro_f1", "track_macro_f1"):
            assert 0.0 <= probe[key] <= 1.0, (rep, key)
        for algo, scopes in ((a, s) for a, s in metrics[rep].items() if a not in ("probe", "track")):
            assert set(scopes) == {"test", "all"}, (rep, algo)
            for scope, m in scopes.items():
                _check_report(m, f"{rep}.{algo}.{scope}", noise_free=algo != "dbscan")
        assert set(metrics[rep]["track"]) == {"mean", "majority"}, rep
        for method, scopes in metrics[rep]["track"].items():
            assert set(scopes) == {"test", "all"}, (rep, method)
            for scope, m in scopes.items():
                _check_report(m, f"{rep}.track.{method}.{scope}", noise_free=True)
    assert 1 <= metrics["data"]["n_test_tracks"] <= metrics["data"]["n_tracks"]
    for target, probe in metrics["leakage"]["lyrics_probe"].items():
        assert target in ("genre", "language", "genre_within_language")
        if probe is not None:
            assert 0.0 <= probe["accuracy"] <= 1.0 and 0.0 <= probe["majority_accuracy"] <= 1.0
            assert 1 <= probe["n_test"] <= metrics["data"]["n_test_tracks"]


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

    headline = json.loads((root / params["paths"]["headline"]).read_text())
    assert tuple(headline) == KEYS
    assert headline["epoch"] == train["best_epoch"] and headline["active"] == model["active_units"]
    assert headline["probe"] == pytest.approx(metrics["latent"]["probe"]["track_accuracy"], abs=1e-3)
    # The headline's clusters are the table's K-Means on track means (target: genre).
    track_km = metrics["latent"]["track"]["mean"]["test"]
    assert headline["nmi"] == pytest.approx(track_km["nmi_genre"], abs=1e-3)
    assert headline["ari"] == pytest.approx(track_km["ari_genre"], abs=1e-3)
    assert headline["nmi_base"] == pytest.approx(max(
        metrics[b]["track"]["mean"]["test"]["nmi_genre"] for b in REPRESENTATIONS[1:]), abs=1e-3)
    tracks_csv = (root / params["paths"]["track_assignments"]).read_text().splitlines()
    assert tracks_csv[0] == "track_id,split," + ",".join(f"{r}.kmeans" for r in REPRESENTATIONS)
    assert len(tracks_csv) == 1 + metrics["data"]["n_tracks"]

    runs = _mlflow_runs(root)
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    commit = project.git("rev-parse", "HEAD").stdout.strip()
    assert run.info.run_name == f"vae-hybrid-z4-{commit[:7]}"
    assert run.data.params["latent_dim"] == "4"
    assert run.data.params["data.synthetic.tracks_per_genre"] == "4"
    # The headline under its short names, the losses per epoch, nothing else as metrics.
    assert {k: run.data.metrics[k] for k in KEYS if headline[k] is not None} == \
        {k: v for k, v in headline.items() if v is not None}
    assert set(run.data.metrics) <= set(KEYS) | {"beta", "train_loss", "train_recon", "train_kl",
                                                 "val_loss", "val_recon", "val_kl"}
    tags = run.data.tags
    assert (tags["model"], tags["input"], tags["data"]) == ("vae", "hybrid", "synthetic")
    # One test track per genre: flagged in the headline and on the run.
    assert headline["small_test"] == 1.0 and tags["genrevae.small_test"] == "true"
    assert tags["git.commit"] == commit and tags["git.dirty"] == "false"
    (dataset,) = run.inputs.dataset_inputs
    assert dataset.dataset.name == "synthetic" and len(dataset.dataset.digest) == 16
    # The run covers the pipeline: it started before training wrote the model.
    model_written = (root / params["paths"]["model"]).stat().st_mtime * 1000
    assert run.info.start_time < model_written < run.info.end_time
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("genrevae")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert [m.step for m in history] == list(range(1, train["epochs_run"] + 1))
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "eval")}
    assert "eval/latent_tsne_genre.png" in artifacts
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"eval_table.csv", "eval.json", "headline.json"} <= top
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "first repro")


def test_second_repro_runs_nothing(project):
    proc = project.dvc("repro")
    assert stages_run(proc.stdout) == set()
    assert len(_mlflow_runs(project.root)) == 1


def test_dvc_plots_draw_every_plot_and_skip_the_output_marker(project):
    proc = project.dvc("plots", "show", "--json")
    assert "failed to load" not in proc.stdout + proc.stderr
    drawn = json.dumps(json.loads(proc.stdout))
    assert "probe_confusion.png" in drawn and "tracks_per_genre.png" in drawn
    assert ".genrevae-output" not in drawn
    # Bookkeeping, not part of the cached folder: a stage still leaves it for the guard.
    assert (project.root / "plots" / "eval" / ".genrevae-output").is_file()
    lock = (project.root / "dvc.lock").read_text()
    assert "plots/eval" in lock


def test_same_params_give_same_metrics(project):
    """Reproducible: retraining with the same seed reproduces the latents and every metric."""
    root = project.root
    before = (root / "metrics" / "eval.json").read_text()
    z_before = np.load(root / "data" / "latent" / "z.npy")
    model_before = (root / "models" / "model.pt").read_bytes()
    proc = project.dvc("repro", "--force", "--downstream", "train")
    assert stages_run(proc.stdout) == {"train", "cluster", "evaluate"}
    np.testing.assert_array_equal(np.load(root / "data" / "latent" / "z.npy"), z_before)
    assert json.loads((root / "metrics" / "eval.json").read_text()) == json.loads(before)
    assert (root / "models" / "model.pt").read_bytes() == model_before


def test_retraining_the_same_model_reruns_nothing_after_it(project):
    """Retraining with the same seed writes the same checkpoint bytes, so DVC sees nothing
    changed downstream and neither cluster nor evaluate reruns (nor logs a run)."""
    n_runs = len(_mlflow_runs(project.root))
    assert stages_run(project.dvc("repro", "--force", "--single-item", "train").stdout) == {"train"}
    assert stages_run(project.dvc("repro").stdout) == set()
    assert len(_mlflow_runs(project.root)) == n_runs


def test_cluster_param_reruns_only_cluster_and_evaluate(project):
    path = project.root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["cluster"]["k"] = 3
    path.write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    proc = project.dvc("repro")
    assert stages_run(proc.stdout) == {"check", "cluster", "evaluate"}
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
    assert list(diff) == ["metrics/headline.json"]  # the headline, not the full table
    assert "active" in diff["metrics/headline.json"]  # 8 latent units instead of 4
    full = json.loads(project.dvc("metrics", "diff", "--json", "--targets",
                                  "metrics/eval.json").stdout)
    assert "model.latent_dim" in full["metrics/eval.json"]  # the full table, on request

    runs = _mlflow_runs(project.root)
    assert len(runs) == n_runs + 1
    assert runs[-1].info.run_name == "lat8"
    assert runs[-1].data.params["latent_dim"] == "8"
    assert runs[-1].data.tags["dvc.exp_name"] == "lat8"


def _changed_columns(project) -> tuple[list[str], list[str]]:
    """The metric and param columns whose values differ across the rows of `dvc exp show`
    (what --only-changed keeps), from its CSV."""
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(project.dvc("exp", "show", "--csv").stdout)))
    params = yaml.safe_load((project.root / "params.yaml").read_text())
    param_names = set(_flat(params))
    changed = [c for c in rows[0] if len({r[c] for r in rows}) > 1]
    metrics = [c for c in changed if c in KEYS]
    return metrics, [c for c in changed if c in param_names]


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_exp_show_fits_a_160_column_terminal(project):
    """`COLUMNS=160 dvc exp show --only-changed` after a -S experiment: every headline
    metric and param that changed is a readable column (dependency hashes, which DVC adds
    for every stage input, fold into one column at the right), and with the README's
    --drop nothing is folded at all; --sort-by works on a headline metric."""
    metrics, params = _changed_columns(project)
    assert metrics and params == ["latent_dim"]
    env = {"COLUMNS": "160"}
    table = project.dvc("exp", "show", "--no-pager", "--only-changed", env=env).stdout
    lines = table.splitlines()
    assert max(map(len, lines)) <= 160
    header = lines[1].split()
    for name in ("Experiment", "Created", *metrics, *params):
        assert name in header, (name, table)
    assert "lat8" in table
    assert header.count("…") <= 1 and (not header.count("…") or header[-1] == "…"), table
    dropped = project.dvc("exp", "show", "--no-pager", "--only-changed", "--drop",
                          DEPS_DROP, env=env).stdout
    assert "…" not in dropped and max(map(len, dropped.splitlines())) <= 160, dropped
    assert dropped.splitlines()[1].split() == ["Experiment", "Created", *metrics, *params]
    ranked = project.dvc("exp", "show", "--no-pager", "--only-changed", "--keep", "^nmi$",
                         "--drop", DEPS_DROP, "--sort-by", "nmi", "--sort-order", "desc",
                         env=env).stdout
    assert "nmi" in ranked.splitlines()[1].split()


# The README's --drop for `dvc exp show`: every stage dependency (files under these folders
# and constraints.txt), leaving params and the headline.
DEPS_DROP = r"^(constraints\.txt|data/|models/|plots/|metrics/|src/|stages/)"


def test_runs_page_in_a_real_browser(project, tmp_path):
    """Headless Chromium on a real `mlflow server` over the project's store, at the address
    `genrevae ui` prints: the runs table lists the runs by name, distinct names, with the
    headline metrics as its first columns."""
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{project.root / 'mlflow.db'}"
    runs = _mlflow_runs(project.root)
    names = [r.info.run_name for r in runs]
    assert len(runs) >= 2 and len(set(names)) == len(names), names
    exp = MlflowClient(tracking_uri=store).get_experiment_by_name("genrevae")
    from genrevae.tracking import runs_page_url

    with running_mlflow_server(tmp_path, store) as url:
        dom, shot = browse(runs_page_url(url, exp.experiment_id), tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("lat8", names[0]):
        assert f">{name}<" in dom, name
    for key in ("nmi", "nmi_base", "nmi_gain"):
        assert f'data-testid="sort-header-{key}"' in dom, key
    assert "Traces 0" not in dom  # the GenAI overview is not where it opens


def test_killed_evaluate_leaves_no_running_run(project):
    """SIGKILL `evaluate` while its MLflow run is open (a real process); the next run closes
    the orphan as FAILED, and no run is left RUNNING."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project.root / 'mlflow.db'}")
    exp_id = client.get_experiment_by_name("genrevae").experiment_id
    before = {r.info.run_id for r in _mlflow_runs(project.root)}
    proc = subprocess.Popen([str(BIN / "python"), "stages/evaluate.py"], cwd=project.root,
                            env=project.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    opened, deadline = None, time.monotonic() + 300
    try:
        while opened is None and proc.poll() is None and time.monotonic() < deadline:
            running = [r for r in client.search_runs([exp_id], "attributes.status = 'RUNNING'")
                       if r.info.run_id not in before]
            if running:
                opened = running[0].info.run_id
            else:
                time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert opened is not None, "evaluate ended before its run was seen open"
    assert client.get_run(opened).info.status == "RUNNING"  # the kill left it open
    project.dvc("repro", "--force", "--single-item", "evaluate")
    assert client.get_run(opened).info.status == "FAILED"
    assert client.get_run(opened).data.tags["genrevae.abandoned"]
    assert not client.search_runs([exp_id], "attributes.status = 'RUNNING'")


def test_refused_parameter_costs_no_outputs(project):
    """`dvc exp run -S model.beta=-1` stops at the check stage, in one line that names the
    key and says how to restore params.yaml, before DVC removes any stage's outputs."""
    root = project.root
    kept = ["metrics/train.json", "metrics/headline.json", "metrics/eval.json", "plots/loss.csv",
            "plots/loss.png", "data/params_checked.json"]
    before = {path: (root / path).read_bytes() for path in kept}
    proc = project.dvc("exp", "run", "-S", "model.beta=-1", check=False)
    assert proc.returncode != 0
    assert stages_run(proc.stdout) == {"check"}
    errors = [line for line in (proc.stdout + proc.stderr).splitlines()
              if line.startswith("error:")]
    assert errors == ["error: model.beta: must be >= 0, got -1.0 (in params.yaml: fix it, or "
                      "`git checkout -- params.yaml` for the committed value)"]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert {path: (root / path).read_bytes() for path in kept} == before
    project.git("checkout", "--", "params.yaml")


def test_two_exp_runs_at_once_are_refused_cleanly(project):
    """Two real `dvc exp run` started together in one workspace overwrite each other's
    params.yaml. The overlap is stopped (by DVC's own lock on a busy output, or by the
    stages' params claim) with an error line, and no MLflow run may carry values other than
    those its experiment asked for."""
    asked = {"conc-a": "5", "conc-b": "6"}
    n_runs = len(_mlflow_runs(project.root))
    procs = [subprocess.Popen([str(BIN / "dvc"), "exp", "run", "-n", name, "-S",
                               f"latent_dim={dim}"], cwd=project.root, env=project.env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for name, dim in asked.items()]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert "Traceback" not in "".join(outputs)
    # The overlap was caught: by DVC's lock on a busy output or by a stage's params claim.
    # (The one that went on may still end in an error of DVC's own, after its stages.)
    stopped = [out for out in outputs if "dvc exp run --queue" in out or "is busy" in out]
    assert stopped, outputs
    for out in stopped:
        assert [line for line in out.splitlines() if line.startswith(("error:", "ERROR:"))]
    for run in _mlflow_runs(project.root)[n_runs:]:
        assert run.data.params["latent_dim"] == asked[run.info.run_name], run.info.run_name
    project.git("checkout", "--", "params.yaml")
    project.dvc("repro")


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
    assert {"val_loss", "nmi", "nmi_base", "nmi_gain", "probe", "epoch"} <= metrics

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
    combos = sorted((r.data.params["model.name"], r.data.params["latent_dim"])
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
    assert "## Audio features (train segments)" in report
    assert len(list((project.root / "plots/eda").glob("*.png"))) == 10


def test_exp_run_on_kaggle_feature_table(project, shared_data):
    """`data=features_table` with its preset skips audio extraction and runs the rest on
    the Kaggle table, the features power-transformed on the train split; its exact
    duplicate rows are left out with their reason."""
    table = shared_data / "gtzan_features_30_sec.csv"
    proc = project.dvc("exp", "run", "-n", "kaggle-table", "-S", "data=features_table",
                       "-S", f"data.root={table}", "-S", "experiment=feature_table",
                       "-S", "train.epochs=2")
    assert {"prepare", "extract_audio", "train", "evaluate"} <= stages_run(proc.stdout)
    assert not (project.root / "data/features/audio/mel.npy").exists()
    rejected = (project.root / "data/prepared/rejected.csv").read_text().splitlines()[1:]
    assert rejected and all(",duplicate," in line for line in rejected)
    metrics = json.loads((project.root / "metrics/eval.json").read_text())
    _check_metric_ranges(metrics)
    assert metrics["data"]["n_tracks"] == 1000 - len(rejected)
    assert metrics["data"]["n_genres"] == 10
    scalers = json.loads((project.root / "data/features/fused/scalers.json").read_text())
    assert len(scalers["audio_lambdas"]) == 57


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
